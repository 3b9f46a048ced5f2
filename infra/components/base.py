"""The one rule every component here follows: what the component waits for, each of its children waits for.

Pulumi does not pass a component's `depends_on` down to its children (they register as soon as their own
inputs are known), so a component made "after" the load balancer controller would still create its pods before
it. Each component's children are made with `self.child(...)`, which repeats the component's own dependencies."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi


class Component(pulumi.ComponentResource):
    def __init__(self, kind: str, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(kind, name, None, opts)
        after = opts.depends_on if opts is not None else None
        if after is None:
            self._after: list[pulumi.Resource] = []
        elif isinstance(after, pulumi.Resource):
            self._after = [after]
        else:
            self._after = list(after)  # type: ignore[arg-type]

    def child(self, provider: pulumi.ProviderResource | None = None,
              depends_on: Sequence[pulumi.Resource] = (), **options: object) -> pulumi.ResourceOptions:
        """Options for a child: parented here, after whatever this component waits for (and `depends_on`)."""
        return pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[*self._after, *depends_on],
                                      **options)  # type: ignore[arg-type]
