"""Ignore every signal it may, block the rest, and send itself SIGINT, an alarm and a repeating timer."""
import signal
import threading

from attack_prelude import verdict

found = {}
for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGXCPU", "SIGPIPE", "SIGQUIT",
             "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGKILL"):
    try:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
        found[name] = "ignored"
    except (OSError, ValueError, RuntimeError) as e:
        found[name] = type(e).__name__
signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
signal.alarm(1)
signal.setitimer(signal.ITIMER_REAL, 0.3, 0.3)
signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
found["blocked"] = len(signal.pthread_sigmask(signal.SIG_BLOCK, []))
verdict(**found)
