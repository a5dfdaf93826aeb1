"""The ``aistem`` command line."""
