"""How run events lie in Redis: the keys of one request, the scripts that write them, the frames.

The keys of one request share a hash tag, so they sit on one Redis Cluster slot:

- `run:{<request_id>}:seq`     the last sequence number given out (INCR);
- `run:{<request_id>}:events`  the replay buffer: frames `"<seq> <json>"`, capped, with a TTL;
- `run:{<request_id>}:live`    the pub/sub channel the same frames are published on;
- `run:{<request_id>}:publishes` a hash: per publishing process, the number of its latest
  publish with the seq and audience it got; and `ended`, the seq of the run's ending.

A publish is safe to send twice, as riding through an outage of Redis does
(`transports/redis_ride_through.py`): the attempt that failed may have been carried
out. Each process numbers its publishes; the script skips a number it has seen from
that process for the request and answers what the first one got, so no event is
buffered or broadcast twice. A run's publishes from one process reach Redis in the
order they are numbered (the run awaits each before the next), so the latest number is
all there is to remember. And once a run's ending (`done` or `error`) is published, nothing more
is: a second writer's ending (another replica taking the run over, the gateway
giving up on it) is dropped, so a run has exactly one.
"""

from __future__ import annotations

from typing import Any

import orjson

from agent_common.events import RunEvent, run_event_from

# KEYS: seq, events, publishes. ARGV: json, cap, ttl_s, floor, channel, publisher, its publish's
# number, 1 for an ending. Returns the seq and the subscribers PUBLISH reached; a repeat gets what
# the first attempt got, an event after the ending the ending's seq and nobody.
PUBLISH = """
local last = redis.call('HGET', KEYS[3], ARGV[6])
if last then
  local number, seq, heard = string.match(last, '^(%d+) (%d+) (%d+)$')
  if number and tonumber(number) >= tonumber(ARGV[7]) then return {tonumber(seq), tonumber(heard)} end
end
local ended = redis.call('HGET', KEYS[3], 'ended')
if ended then return {tonumber(ended), 0} end
local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[4])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq)
end
local frame = seq .. ' ' .. ARGV[1]
redis.call('RPUSH', KEYS[2], frame)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local heard = redis.call('PUBLISH', ARGV[5], frame)
redis.call('HSET', KEYS[3], ARGV[6], ARGV[7] .. ' ' .. seq .. ' ' .. heard)
if ARGV[8] == '1' then redis.call('HSET', KEYS[3], 'ended', seq) end
redis.call('EXPIRE', KEYS[3], ARGV[3])
return {seq, heard}
"""

# KEYS: seq. ARGV: floor, ttl_s. Puts back a counter a restart without persistence lost.
RESTORE_SEQ = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return current
"""


def seq_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:seq"


def events_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:events"


def live_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:live"


def publishes_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:publishes"


def text_of(value: Any) -> str:
    """A reply's bytes as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_frame(raw: bytes | str) -> RunEvent:
    """The event of a frame, its seq from the head (a `ValueError` for anything else). Validated
    with the seq put in, not copied after: half the cost, on every event a gateway hears."""
    data = raw.encode() if isinstance(raw, str) else raw
    head, sep, body = data.partition(b" ")
    if not sep or not head.isdigit():
        raise ValueError("not a run-event frame")
    fields = orjson.loads(body)
    if not isinstance(fields, dict):
        raise ValueError("not a run event")
    fields["seq"] = int(head)
    return run_event_from(fields)
