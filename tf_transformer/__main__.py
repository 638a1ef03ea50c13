"""`python -m tf_transformer` is `tf-transformer`."""

import sys

from tf_transformer.cli import main

sys.exit(main())
