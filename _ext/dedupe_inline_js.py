"""Work around Sphinx 7 emitting inline <script> tags twice (fixed upstream in Sphinx 8 by sphinx-doc/sphinx#13402; jupyter-book 1 pins sphinx~=7.0)."""


def _normalise_add_js_file(app):
    add_js_file = app.builder.add_js_file
    # Sphinx.add_js_file passes filename=None, the builder later re-adds the same script as "";
    # None != "" so the inline script is duplicated. Passing "" both times lets the builder dedupe.
    app.builder.add_js_file = lambda filename, **kwargs: add_js_file(filename or "", **kwargs)


def setup(app):
    app.connect("builder-inited", _normalise_add_js_file, priority=0)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
