"""The pipeline's own database: the publish ledger and the analytics series (SQLite locally, PostgreSQL in
production). `tables` declares every table; `migrations/` (Alembic) builds them revision by revision; `engine`
opens a URL and applies the migrations it lacks."""
