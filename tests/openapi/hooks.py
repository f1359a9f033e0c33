"""Schemathesis hooks for SongForge: raw audio and MIDI bodies (POST /media/ takes a file in
any of these types) are sent as the bytes generated for them, as for application/octet-stream."""

import schemathesis

for media_type in ("audio/wav", "audio/flac", "audio/mpeg", "audio/ogg", "audio/mp4", "audio/midi"):
    schemathesis.serializer.alias(media_type, "application/octet-stream")
