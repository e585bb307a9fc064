"""SQLite storage: connection owner, migrations, repositories."""
