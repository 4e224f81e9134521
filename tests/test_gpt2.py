"""The book's transformer is GPT-2: with the same weights, Hugging Face's GPT2LMHeadModel
computes the same logits. Skipped only where ``transformers`` is not installed."""

import pytest
import torch

from icl_book.models import Transformer, TransformerConfig

transformers = pytest.importorskip("transformers")
from icl_book.models.gpt2 import gpt2_from  # noqa: E402


@pytest.mark.parametrize("activation", ["gelu_new", "gelu_pytorch_tanh"])
def test_logits_equal_hugging_face_gpt2_with_the_same_weights(activation):
    torch.manual_seed(0)
    ours = Transformer(TransformerConfig(n_layer=3, n_head=4, d_model=32, n_ctx=24, vocab_size=51)).eval()
    for p in ours.parameters():                       # not the initial values: biases and norms matter too
        p.data.add_(0.02 * torch.randn_like(p))
    hf = gpt2_from(ours, activation=activation).eval()
    x = torch.randint(0, 51, (5, 24))
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=x).logits, ours(x), rtol=1e-4, atol=1e-5)


def test_a_changed_weight_changes_only_our_logits():
    """The bridge copies weights rather than sharing them: a later change to ours leaves HF's alone."""
    torch.manual_seed(1)
    ours = Transformer(TransformerConfig(n_layer=1, n_head=2, d_model=16, n_ctx=8, vocab_size=11)).eval()
    hf = gpt2_from(ours).eval()
    x = torch.randint(0, 11, (2, 8))
    with torch.no_grad():
        before = hf(input_ids=x).logits.clone()
        ours.ln_f.bias.add_(1.0)
        assert not torch.allclose(ours(x), before, atol=1e-3)
        torch.testing.assert_close(hf(input_ids=x).logits, before)


def test_architectures_gpt2_cannot_express_are_refused():
    with pytest.raises(ValueError, match="GPT-2"):
        gpt2_from(Transformer(TransformerConfig(n_layer=1, n_head=2, d_model=16, n_ctx=8, vocab_size=11,
                                                positions="rotary")))
