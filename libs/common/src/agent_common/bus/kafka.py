"""The distributed mode's bus: Apache Kafka through FastStream.

FastStream produces; each subscription is one consumer per process
(`kafka_consumer.py`). Delivery is at least once: an offset is committed after
its handler has run, so a consumer that dies mid-message leaves it to be
redelivered, and handlers are idempotent on the message id. Partitions are
consumed concurrently, each in order, one message at a time: a handler with long
work hands it off (the orchestrator's chat runs) rather than hold its partition.

Publishing rides through a broker outage (a restart, a leader election) of up to
`BUS_RIDE_THROUGH_S`, then raises `OutageTooLong` (`bus_unavailable`). The
producer's own retries are bounded by the same time (its `request_timeout_ms`),
so a message given up on is not sent long after: it expires in the producer.
Idempotence stays off: it would make the producer retry a batch forever (no
expiry, so no bound) and force `acks=all`; a duplicate is already harmless, as
handlers claim message ids. A producer dead of an error inside the client is replaced
(`kafka_producer.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker

from agent_common.bus.base import Bus
from agent_common.bus.delivery import HANDLER_RETRIES, Handler, HandlerRetries, M, deliver
from agent_common.bus.kafka_consumer import PartitionedConsumer, session_timeout_ms
from agent_common.bus.kafka_logs import quiet_expected_transients
from agent_common.bus.kafka_producer import ProducerKeeper
from agent_common.bus.kafka_rejoin import member_client_id
from agent_common.bus.lag import EndOffsets, Subscription, report_lag
from agent_common.bus.metrics import export_at_start
from agent_common.messages import BusMessage, DeadLetter
from agent_common.resilience.outages import Outage, OutageTooLong, ride_through
from agent_common.tasks import stop_task
from agent_common.topics import ALL_TOPICS, Topic
from agent_common.tracing import consuming, producing

log = logging.getLogger("agent.bus")

# How often the consumer-lag gauge is refreshed (one end-offsets request, one committed-offset request per partition).
LAG_INTERVAL_S = 10.0

# How long the broker holds a fetch that finds nothing. A message is handed over as soon as it
# arrives whatever this is (measured: the same latency at 500 ms and 5 s, one consumer owning
# three partitions); what it sets is how often an idle consumer asks again: aiokafka's 500 ms
# made an idle platform spend 135 ms of CPU a second polling (half of it Kafka's).
FETCH_MAX_WAIT_MS = 5000
# The producer's request timeout with no ride-through at all: one request's round trip, generously.
MIN_REQUEST_TIMEOUT_MS = 1000


class KafkaBus(Bus):
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        create_topics: bool = True,
        topics: tuple[Topic, ...] = ALL_TOPICS,
        lag_interval_s: float = LAG_INTERVAL_S,
        ride_through_s: float = 5.0,
        retries: HandlerRetries | None = None,
        member_name: str | None = None,
    ) -> None:
        """`member_name`: this replica's own name (`BUS_KAFKA_MEMBER_NAME`, `kafka_rejoin.py`)."""
        quiet_expected_transients()
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._member_name = member_name
        self._consumers: list[PartitionedConsumer] = []
        self._create_topics = create_topics
        self._topics = topics
        self._subscriptions: list[Subscription] = []
        self._lag_task: asyncio.Task[None] | None = None
        self._lag_interval_s = lag_interval_s
        self._ride_through_s = ride_through_s
        # A handler held by an outage is logged and counted past the same bound.
        self._retries = retries or replace(HANDLER_RETRIES, outage_bound_s=ride_through_s)
        faststream_log = logging.getLogger("agent.bus.faststream")
        self._broker = KafkaBroker(
            bootstrap_servers,
            client_id=client_id,
            # Waiting for the leader's acknowledgement is enough for a single
            # request message; linger 0 keeps produce latency off the first token.
            acks=1,
            linger_ms=0,
            # aiokafka retries a batch until it is this old (40 s by default), then fails it: the bound.
            request_timeout_ms=max(MIN_REQUEST_TIMEOUT_MS, int(ride_through_s * 1000)),
            logger=faststream_log,
            log_level=logging.DEBUG,
        )
        self._producer = ProducerKeeper(self._broker)

    def subscribe(self, model: type[M], handler: Handler[M], *, group: str, concurrency: int = 1) -> None:
        self._add_consumer(model, handler, group, concurrency)

    def follow(self, model: type[M], handler: Handler[M]) -> None:
        # Every partition, from the topic's start, no group: nothing committed, nothing left behind.
        self._add_consumer(model, handler, None, 1)

    def _add_consumer(self, model: type[M], handler: Handler[M], group: str | None, concurrency: int) -> None:
        topic = model.topic
        export_at_start(topic)
        label = group or f"{self._client_id} (no group)"

        async def on_record(record: ConsumerRecord[bytes, bytes]) -> None:
            headers = {key: value.decode(errors="replace") for key, value in record.headers}
            with consuming(topic, label, headers, "kafka"):
                await deliver(model, handler, record.value or b"", topic, self.park, self._retries)

        consumer = PartitionedConsumer(
            self._bootstrap,
            topic,
            on_record,
            group=group,
            client_id=member_client_id(self._client_id, self._member_name, topic),
            named=self._member_name is not None,
            concurrency=concurrency,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            # A broker outage under the bound must not cost the group this member (see there).
            session_timeout_ms=session_timeout_ms(self._ride_through_s, FETCH_MAX_WAIT_MS),
        )
        self._consumers.append(consumer)
        if group is not None:  # lag is a group's: a follower commits nothing
            self._subscriptions.append((group, consumer.live))

    async def publish(self, message: BusMessage) -> None:
        key = message.partition_key()
        with producing(message.topic, message.message_id, key, "kafka") as trace_headers:
            headers = {"message-id": message.message_id, "request-id": message.request_id, **trace_headers}
            await self._produce(message.to_bytes(), message.topic, key, headers)

    async def park(self, letter: DeadLetter) -> None:
        with producing(letter.topic, letter.message_id, letter.source_topic, "kafka") as trace_headers:
            headers = {"message-id": letter.message_id, "reason": letter.reason, **trace_headers}
            await self._produce(letter.to_bytes(), letter.topic, letter.source_topic, headers)

    async def _produce(self, value: bytes, topic: str, key: str, headers: dict[str, str]) -> None:
        """Send one record, riding through a broker outage for the bound; then `OutageTooLong`."""

        async def send() -> None:
            generation = await self._producer.ready()
            try:
                await self._broker.publish(value, topic=topic, key=key.encode(), headers=headers)
            except (KafkaError, IncorrectState):  # the latter: the producer was being replaced
                if not await self._producer.replace_if_dead(generation):
                    raise
                # Once more on the new producer (a duplicate is harmless: handlers claim message ids);
                # a second death is raised, not ridden through to the bound.
                await self._broker.publish(value, topic=topic, key=key.encode(), headers=headers)

        # The producer may itself wait out most of the bound before failing once: the bound is
        # on the whole publish, not only on the time after a first failure.
        bound = self._ride_through_s if self._ride_through_s > 0 else None
        try:
            async with asyncio.timeout(bound) as whole:
                await ride_through(send, self._ride_through_s, only=Outage.BUS)
        except TimeoutError as exc:
            if not whole.expired():
                raise
            raise OutageTooLong(Outage.BUS, self._ride_through_s) from exc

    async def start(self) -> None:
        if self._create_topics:
            await ensure_topics(self._bootstrap, self._topics)
        await self._broker.start()
        self._producer.running = True
        await self._consume_from_start()
        if self._subscriptions:
            ends = EndOffsets(self._bootstrap, f"{self._client_id}-lag")
            self._lag_task = asyncio.create_task(report_lag(self._subscriptions, self._lag_interval_s, ends))

    async def _start_consumers(self) -> None:
        for consumer in self._consumers:
            await consumer.start()

    async def _stop_consumers(self) -> None:
        # The handlers in flight finish and commit, then each consumer leaves its group: their
        # partitions move to the other replicas, and the producer stays up.
        await asyncio.gather(*(consumer.stop() for consumer in self._consumers))

    async def stop_consuming(self) -> None:
        await self._stop_consuming_started()
        self._consumers = []

    async def stop(self) -> None:
        await self.stop_consuming()
        await stop_task(self._lag_task)
        self._lag_task = None
        self._producer.running = False
        await self._broker.stop()

    async def ping(self) -> bool:
        # A dead producer is replaced here too: a service that publishes nothing until it is ready
        # would otherwise never find it dead.
        try:
            await self._producer.replace_if_dead(await self._producer.ready())
        except KafkaError:  # the new one could not start: the broker is away too
            return False
        return await self._broker.ping(timeout=2.0)


async def ensure_topics(bootstrap_servers: str, topics: tuple[Topic, ...]) -> None:
    """Create the platform's topics with their partition counts, if missing.

    Production clusters usually have topics created by their owners (and
    `BUS_CREATE_TOPICS=false`); this makes a fresh broker usable at once.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(t.name, num_partitions=t.partitions, replication_factor=1)
            for t in topics
            if t.name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another replica created them first
                await admin.create_topics(missing)
            log.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()
