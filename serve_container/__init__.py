"""Serving container: `serve` supervisor, Flask proxy to TF Serving over gRPC, decoders and encoders."""
