"""One adapter per wire protocol; `registry` names them and what they can do."""
