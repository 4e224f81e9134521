"""Analyses that read trained or exactly solved models: probes, order parameters, spectra.

One module per chapter; import from the module (``icl_book.analysis.spinglass``)."""
