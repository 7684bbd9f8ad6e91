"""The public :class:`Emulator`: the core emulator with its documented default hook.

:class:`sss_emulator.core.emulator.Emulator` runs with exactly the hooks it is given. The one
users import connects each run to the embedded LinkAhead stand-in unless ``stand_in=False``
(or other ``hooks`` are given, e.g. a real server's); the stand-in costs nothing until a script
first connects to it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sss_emulator.connect.accounts import live_users
from sss_emulator.connect.standin import StandInHook
from sss_emulator.core.emulator import Emulator as CoreEmulator

if TYPE_CHECKING:
    from sss_emulator.backend import StandIn
    from sss_emulator.config import Settings
    from sss_emulator.connect.world import ServerWorld

__all__ = ("Emulator", "world_of")


class Emulator(CoreEmulator):
    """Runs server-side scripts locally with the server's calling convention.

    >>> em = Emulator(bin_dirs=["sample_scripts"], timeout=30)      # doctest: +SKIP
    >>> res = em.run_server_side_script("minimal.bash", "pos0", option1="val1")  # doctest: +SKIP
    >>> res.code, res.call                                          # doctest: +SKIP
    (0, 'minimal.bash --option1=val1 pos0')

    ``stand_in=True`` (the default) adds a :class:`~sss_emulator.connect.standin.StandInHook`
    seeded with ``data_files``; ``world`` (:func:`~sss_emulator.connect.world.server_world`)
    puts the stand-in at the server's address and the script in the server's mounts;
    everything else is the core's.
    """

    def __init__(self, *args: Any, stand_in: bool = True,
                 data_files: Sequence[str | os.PathLike[str]] = (),
                 world: ServerWorld | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hook = None
        if stand_in:
            hook = StandInHook(self.authority, data_files=data_files,
                               context_root=self.context_root, users=self.users)
            self.hooks.append(hook)
            # one model: the scripting check reads the stand-in's users and roles once it runs
            # (the administration API may have changed them), the users file until then
            self.users = live_users(lambda: hook.access, self.users)
        #: The server's address and mounts (``--server-address``, ``--mounts``), if asked for.
        self.world = world
        if world is not None:  # the modules load only for runs that ask for them
            from sss_emulator.connect.world import equip

            self.runner = equip(world, self.hooks, hook, self.runner)

    @property
    def stand_in(self) -> StandIn | None:
        """The running LinkAhead stand-in of this emulator (started now if need be), or None.

        Its ``store`` holds the entities scripts see; ``recorder.calls``, ``store.changes`` and
        ``collector.mails`` what the last run did (the pytest fixture ``sss_backend`` wraps it).
        """
        hook = next((h for h in self.hooks if isinstance(h, StandInHook)), None)
        return None if hook is None else hook.stand_in

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Emulator:
        """An emulator configured from resolved settings (CLI, env, pyproject, profile)."""
        kwargs: dict[str, Any] = {
            "bin_dirs": settings.bin_dirs,
            "home": settings.home,
            "timeout": settings.timeout,
            "shared_root": settings.shared_root,
            "work_root": settings.work_root,
            "env": settings.env,
            "users": settings.users,
            "purposes": settings.purposes,
            "context_root": settings.context_root,
            "notes": settings.notes,
        }
        if "world" not in overrides:
            world = world_of(settings)
            if world is not None:
                kwargs["world"] = world
                kwargs["notes"] = (*settings.notes, *world.notes)
        kwargs.update(overrides)
        return cls(**kwargs)


def world_of(settings: Settings) -> ServerWorld | None:
    """The server's address and mounts the settings ask for, or None (nothing asked)."""
    values = settings.values
    if not values.get("server_address") and not values.get("mounts"):
        return None
    from sss_emulator.connect.world import server_world

    return server_world(settings)
