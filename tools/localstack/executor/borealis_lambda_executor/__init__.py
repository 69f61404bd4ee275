"""LocalStack Lambda runtime executor that runs Node.js functions as host processes (no Docker)."""
