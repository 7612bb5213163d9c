"""Loading a pretrained encoder under a task head (eval, the paragraph classifier)."""

from __future__ import annotations

import logging
from typing import Any


logger = logging.getLogger(__name__)


def load_encoder(name_or_path: str, **kwargs: Any):
    """``AutoModel.from_pretrained(name_or_path, **kwargs)``, without transformers' load report on what is expected.

    Released encoders are saved with their pretraining head (``*ForMaskedLM``): loading the bare encoder leaves
    those weights unused, and transformers prints a warning table for it on every load. That is the normal case
    here, so the table is not shown. Encoder weights the checkpoint lacks are still reported, in one line: they
    would start from random values (an unused pooler aside: no kit head reads it).
    """
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        encoder, info = AutoModel.from_pretrained(name_or_path, output_loading_info=True, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(key for key in info.get("missing_keys", ()) if not key.startswith("pooler."))
    if missing:
        logger.warning(
            "%s lacks %d encoder weight(s), randomly initialised (first: %s): is it the right checkpoint?",
            name_or_path,
            len(missing),
            ", ".join(missing[:3]),
        )
    return encoder
