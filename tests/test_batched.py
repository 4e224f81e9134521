"""The one batched-evaluation helper: the same numbers as one forward pass, in bounded slices."""

import numpy as np
import pytest
import torch

from icl_book.models import Transformer, TransformerConfig, batched


def test_batched_equals_one_pass_and_accepts_numpy_and_tensors():
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(vocab_size=11, n_ctx=16, n_layer=1, n_head=2, d_model=16)).eval()
    tokens = np.random.default_rng(0).integers(0, 11, size=(23, 9))
    q = torch.from_numpy(tokens[:, 0])

    def read(m, x, first):
        return m(x)[:, -1].gather(1, first[:, None])

    whole = read(model, torch.from_numpy(tokens), q).detach()
    for size in (1, 5, 23, 100):
        torch.testing.assert_close(batched(model, read, tokens, q, batch_size=size), whole, rtol=1e-5, atol=1e-6)


def test_batched_refuses_ragged_inputs_and_keeps_no_graph():
    model = torch.nn.Linear(3, 2)
    out = batched(model, lambda m, x: m(x), torch.ones(4, 3), batch_size=3)
    assert out.shape == (4, 2) and not out.requires_grad
    with pytest.raises(ValueError, match="one length"):
        batched(model, lambda m, x, y: m(x), torch.ones(4, 3), torch.ones(5, 3))
