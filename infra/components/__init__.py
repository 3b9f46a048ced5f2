"""One ComponentResource per part of the deployment; each takes plain typed values, never pulumi.Config."""
