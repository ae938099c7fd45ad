"""Humane pacing: a person pauses between screens and types key by key at an uneven speed. Logins that
arrive as instant form fills are what X's automation checks look for. Settings turn it off (tests set
typing_delay_ms, pause_min_ms and pause_max_ms to 0)."""

from __future__ import annotations

import asyncio
import random

from playwright.async_api import Locator

from optout.config import Settings

_rng = random.SystemRandom()


async def pause(settings: Settings) -> None:
    """A random pause between pause_min_ms and pause_max_ms, as between reading a screen and acting."""
    low, high = sorted((max(settings.pause_min_ms, 0), max(settings.pause_max_ms, 0)))
    if high > 0:
        await asyncio.sleep(_rng.uniform(low, high) / 1000)


async def type_into(field: Locator, text: str, settings: Settings) -> None:
    """Click the field, clear it, and type `text` one key at a time with jittered delays."""
    await field.click()
    await field.fill("")
    delay = settings.typing_delay_ms
    if delay <= 0:
        await field.press_sequentially(text)
        return
    keyboard = field.page.keyboard
    for char in text:
        await keyboard.type(char)
        await asyncio.sleep(_rng.uniform(0.5, 1.6) * delay / 1000)
