"""``python -m biomed.cli …``, what ``accelerate launch -m biomed.cli`` and ``torchrun -m biomed.cli`` run."""

from biomed.cli import main


main()
