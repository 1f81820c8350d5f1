"""Peer-support assistant: answers from a vetted corpus, always pointing to human peers.

Imports here stay light on purpose: `assistant --help` and `assistant corpus check` must start
at once, so torch, Chroma and the model load only when a command needs them.
"""

__version__ = "0.1.0"
