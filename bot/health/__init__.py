"""A deal's health, one definition for the asks' gate, Home and the digest; the go-live question; a verbal yes's readiness."""
