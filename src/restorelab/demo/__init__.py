"""The browser demo behind ``restorelab-demo``: a Gradio page around the Enhancer.

``session.py`` does the work of one upload without knowing about Gradio (read, enhance, write
the download and the previews), ``preview.py`` makes the 8-bit images the browser shows, and
``page.py`` lays out the page and wires its events. Gradio is imported only by ``page.py``.
"""
