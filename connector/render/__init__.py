"""Renderers of the Working Group's report, one module per format.

`connector.report_render.render` picks one by name; `common` holds what they share.
"""
