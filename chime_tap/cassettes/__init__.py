"""The cassette format: vcrpy's, read safely, written one interaction at a time, scrubbed of
credentials (and, on request, of phone numbers) on the way to disk."""
