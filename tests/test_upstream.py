"""The private APIs of other libraries the kit relies on (biomed/upstream.py): each fails here, by name, if it goes.

When one of these fails after a library upgrade, fix the matching function of biomed/upstream.py (or, for the
classifier's remote-code file, modeling_biomed_classifier.py); nothing else in the kit touches these names.
"""

import inspect

import pytest
import torch
from transformers import BertConfig, BertModel, PreTrainedModel, Trainer, TrainingArguments

from biomed import upstream


def _tiny_bert(**kwargs) -> BertModel:
    from transformers import AutoModel

    shape = {"num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
    return AutoModel.from_config(BertConfig(vocab_size=50, hidden_size=16, **shape), **kwargs)


@pytest.mark.parametrize("backend", ["eager", "sdpa"])
def test_transformers_config_attn_implementation(backend):
    model = _tiny_bert(attn_implementation=backend)
    assert upstream.attn_implementation(model.config) == backend
    model.set_attn_implementation("eager")
    assert upstream.attn_implementation(model.config) == "eager"  # follows a switch after loading


def _trainer(cls=Trainer, tmp_path=None, **args) -> Trainer:
    model = _tiny_bert()
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, **args)
    return cls(model=model, args=arguments)


def test_transformers_trainer_created_lr_scheduler_flag(tmp_path):
    trainer = _trainer(tmp_path=tmp_path)
    assert trainer._created_lr_scheduler is False, "Trainer no longer initialises _created_lr_scheduler"
    upstream.mark_lr_scheduler_created(trainer)
    assert trainer._created_lr_scheduler is True
    # the flag is what makes train() drop a scheduler built by create_scheduler; the Trainer must still read it
    assert "if self._created_lr_scheduler" in inspect.getsource(Trainer), "Trainer no longer reads the flag"


def test_transformers_trainer_eval_sampler_hook(tmp_path):
    from torch.utils.data import SequentialSampler
    from transformers.trainer_pt_utils import LengthGroupedSampler

    dataset = [{"input_ids": [1] * n} for n in (5, 1, 9, 3, 7, 2, 8, 4)]
    grouped = {"train_sampling_strategy": "group_by_length", "per_device_eval_batch_size": 2}
    stock = _trainer(tmp_path=tmp_path, **grouped)
    assert isinstance(stock._get_eval_sampler(dataset), LengthGroupedSampler)  # the reordering the hook prevents

    @upstream.keep_eval_order
    class InOrderTrainer(Trainer):
        pass

    trainer = _trainer(InOrderTrainer, tmp_path=tmp_path, **grouped)
    assert isinstance(trainer.get_eval_dataloader(dataset).sampler, SequentialSampler)


def test_torch_compile_wrapper_keeps_the_original_module():
    module = torch.nn.Linear(2, 2)
    compiled = torch.compile(module)  # compiles lazily, on the first call: nothing is compiled here
    assert upstream.compiled_inner_module(compiled) is module
    assert upstream.compiled_inner_module(module) is None


def _worker_number(_):
    from biomed.upstream import pool_worker_number

    return pool_worker_number()


def test_pool_worker_identity():
    from biomed.runtime.parallel import map_processes

    assert upstream.pool_worker_number() is None
    numbers = set(map_processes(_worker_number, range(8), workers=2))  # the pool that runs local tasks
    # distinct and consecutive per pool; counted over every child this process started (other tests start some)
    assert numbers and all(isinstance(n, int) and n >= 1 for n in numbers) and max(numbers) - min(numbers) <= 1


def test_datatrove_parquet_writer_internals(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datatrove.data import Document
    from datatrove.pipeline.writers import ParquetWriter

    class RowsWriter(ParquetWriter):
        def _write(self, document, file_handler, filename):
            upstream.write_rows_to_parquet(self, document, file_handler, filename)

    schema = pa.schema([("text", pa.string())])
    writer = RowsWriter(str(tmp_path), schema=schema, batch_size=2, adapter=lambda self, doc: doc.metadata["rows"])
    with writer:
        for i in range(3):
            rows = [{"text": f"{i}-{j}"} for j in range(i + 1)]
            writer.write(Document(text="", id=str(i), metadata={"rows": rows}), rank=0)
    (path,) = tmp_path.glob("*.parquet")
    assert pq.read_table(path).column("text").to_pylist() == ["0-0", "1-0", "1-1", "2-0", "2-1", "2-2"]
    assert "_write" in vars(ParquetWriter) and "self._write(" in inspect.getsource(type(writer).__mro__[2])


def test_classifier_remote_code_relies_on_documented_model_hooks():
    # modeling_biomed_classifier.py is copied into checkpoints and cannot import biomed.upstream
    from transformers.configuration_utils import SubConfigSpec  # noqa: F401

    assert callable(PreTrainedModel._init_weights)
    for flag in ("_supports_flash_attn", "_supports_sdpa", "_supports_flex_attn", "_supports_attention_backend"):
        assert hasattr(PreTrainedModel, flag), flag
