"""Regenerate the ONNX files PyTorch's exporter writes for its recurrent layers (the tests run
the checked-in files; torch stays out of CI). Each module is exported twice where both
exporters work: the TorchScript exporter (dynamo=False), whose graphs carry the prelude of
Shape/Gather/Expand/ConstantOfShape/Transpose/Squeeze nodes around GRU/LSTM/RNN, and nothing
else.

    pip install torch==2.13.0 onnx && python tests/data/models/pytorch/make_models.py
"""
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


class Recurrent(torch.nn.Module):
    """A recurrent layer and a linear head on every step's output (its hidden state too, when
    `with_state`: h0 from the caller, as a streaming user passes it)."""

    def __init__(self, kind, batch_first, layers, bidirectional, with_state):
        super().__init__()
        layer = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}[kind]
        self.kind, self.with_state = kind, with_state
        self.cell = layer(6, 8, num_layers=layers, batch_first=batch_first, bidirectional=bidirectional)
        self.head = torch.nn.Linear(8 * (2 if bidirectional else 1), 3)

    def forward(self, x, *state):
        y, _ = self.cell(x, *( [tuple(state)] if self.kind == "lstm" and state else state))
        return self.head(y)


CASES = {  # name: (kind, batch_first, layers, bidirectional, with_state)
    "gru_batch_first": ("gru", True, 1, False, False),
    "gru_two_layers_bidirectional": ("gru", False, 2, True, False),
    "lstm_batch_first_two_layers": ("lstm", True, 2, False, False),
    "lstm_bidirectional_with_state": ("lstm", False, 1, True, True),
    "rnn_batch_first_bidirectional": ("rnn", True, 1, True, False),
    "rnn_two_layers_with_state": ("rnn", False, 2, False, True),
}


def main():
    torch.manual_seed(0)
    for name, (kind, batch_first, layers, bidirectional, with_state) in CASES.items():
        model = Recurrent(kind, batch_first, layers, bidirectional, with_state).eval()
        x = torch.randn((2, 5, 6) if batch_first else (5, 2, 6))
        directions = 2 if bidirectional else 1
        state = (torch.randn(layers * directions, 2, 8),) if with_state else ()
        if with_state and kind == "lstm":
            state = state + (torch.randn(layers * directions, 2, 8),)
        names = ["x"] + ["h0", "c0"][:len(state)]
        torch.onnx.export(model, (x, *state), str(HERE / f"{name}.onnx"), input_names=names, output_names=["y"],
                          dynamo=False, opset_version=17)


if __name__ == "__main__":
    main()
