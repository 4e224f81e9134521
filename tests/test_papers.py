"""The papers' numbers, transcribed into the package, read back as the papers state them."""

from icl_book import papers


def test_ginc_curves_parse_completely():
    curves = papers.ginc_curves()
    assert len(curves) == 8 * 3 * 4                     # 8 sections x V in {50,100,150} x k in {3,5,8,10}
    assert all(sorted(c) == [0, 1, 2, 4, 8, 16, 32, 64] for c in curves.values())
    # spot checks against the spec's headline table (k = 10, n = 64)
    assert curves[("4L", 50, 10)][64] == (60.2, 5.7)
    assert curves[("12L", 50, 10)][64] == (81.2, 7.1)
    assert curves[("16L", 100, 10)][64] == (88.7, 1.6)
    assert curves[("LSTM", 150, 10)][64] == (99.2, 1.1)
    assert curves[("4L-random-tokens", 50, 3)][0] == (1.2, 0.9)


def test_ginc_curves_file_names_its_source():
    head = papers.GINC_CURVES_FILE.read_text().splitlines()[0]
    assert "Xie et al., ICLR 2022" in head and "p-lambda/incontext-learning" in head
