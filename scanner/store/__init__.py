"""The store: the history of scans, its lock, and the diffs between recorded scans."""
