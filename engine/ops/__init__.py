"""Running gongai in production: metrics, structured logs, the audit chain, backups (operators' concerns)."""
