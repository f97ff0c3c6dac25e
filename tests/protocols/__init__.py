"""Tests of protocols/: roles run against each other in one process, transcripts, hostile input."""
