"""Provider codecs: the interface in base.py, one wire format per module."""
