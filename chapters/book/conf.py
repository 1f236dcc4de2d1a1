"""Sphinx configuration of the minidl book (built by ``python chapters/book/build.py``).

Sphinx with myst-nb: the chapters are executed notebooks, the prose is MyST markdown, and the
formulas are typeset by a MathJax 3 that the build script copies into ``_static`` (no CDN: the
book works with no network). Furo is the theme: a contents sidebar, no web fonts.
"""

project = "minidl: deep learning and model compression, formula by formula"
author = "the minidl authors"
copyright = "the minidl authors, MIT licence"

extensions = ["myst_nb", "sphinx.ext.mathjax"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "build.py", "conf.py"]
suppress_warnings = ["mystnb.unknown_mime_type"]

# --- MyST: $...$ and $$...$$ math, heading anchors for links into a page ---
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# --- notebook execution: every chapter is run from a clean kernel during the build ---
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True  # a chapter that fails fails the book
nb_execution_in_temp = True  # whatever a chapter writes goes to a temporary folder
nb_merge_streams = True

# --- MathJax 3 from the local copy the build script puts into _static (never a CDN) ---
mathjax_path = "mathjax/tex-svg-full.js"
mathjax3_config = {
    "tex": {"tags": "none"},  # the chapters number their formulas themselves with \tag
    "svg": {"fontCache": "global"},
    "options": {"enableMenu": False},
}

html_theme = "furo"
html_title = "minidl: the book"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None


def _wrap_display_math(app, doctree):
    """Give MathJax each $$...$$ block as written: Sphinx would wrap a block holding a line break
    (\\\\) in a split environment, where the chapters' \\tag{...} numbers are not allowed."""
    from docutils import nodes

    for node in doctree.findall(nodes.math_block):
        if node.get("nowrap"):
            continue
        latex = node.astext()
        node.children = [nodes.Text("\\[" + latex + "\\]")]
        node["nowrap"] = True


def setup(app):
    app.connect("doctree-read", _wrap_display_math)
