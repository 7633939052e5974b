"""Discovery: where candidate videos come from (TikTok accounts, URL lists, feeds, a watched folder)."""
