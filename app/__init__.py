"""Sieve: score texts with ONNX text classifiers, from a desktop window or the command line."""

__version__ = "0.1.0"
