"""Run LinkAhead server-side scripts locally, exactly as the server would."""
