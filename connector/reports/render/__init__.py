"""Renderers of the Working Group's report, one module per format.

`formats.render` picks one by name; `common` holds what they share.
"""
