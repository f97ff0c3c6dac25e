"""Running roles: the wire codec, transports, the runner, transcripts, logs, progress, files."""
