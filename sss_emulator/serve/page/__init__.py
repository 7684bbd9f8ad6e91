"""The browser page of ``serve``: an index of scripts, their forms, and the results of runs."""
