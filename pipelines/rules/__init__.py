"""Plain functions and classes the transforms and jobs apply: no Beam transforms here."""
