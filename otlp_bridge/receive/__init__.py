"""Receive: the OTLP/HTTP wire (content types, gzip, protobuf and JSON decoding, responses)."""
