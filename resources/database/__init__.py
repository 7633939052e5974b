"""The pipeline's own database: the publish ledger and the analytics series (SQLite locally, PostgreSQL in
production). `tables` declares every table; `engine` opens a URL and brings its schema up to date."""
