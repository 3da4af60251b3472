"""Metrics and alarm evaluation for the data plane (README fill 6).

Mirrors AWS's documented behaviour:
  * The traffic the emulator carries is put into CloudWatch every 10 s with
    AWS's namespaces and dimensions (AWS/ApplicationELB, AWS/SageMaker); a
    period without traffic gets no datapoint.
  * Metric alarms are evaluated every EMU_ALARM_EVAL_SECONDS (default 10)
    from the stored datapoints: the last EvaluationPeriods periods of Period
    seconds, the alarm's Statistic (or pNN ExtendedStatistic), threshold and
    comparison, DatapointsToAlarm (M of N) and TreatMissingData. The state
    changes only when it differs. Metric-math alarms are left alone.
  * With --cloudwatch-url URL (CloudWatchSink) the same datapoints are put
    into the CloudWatch at URL (e.g. LocalStack, localstack/real-up) instead of
    moto's, and that CloudWatch evaluates the alarms: the emulator's own
    evaluation is off.
"""
import datetime
import json
import math
import os
import queue
import threading
import time

from moto.core import DEFAULT_ACCOUNT_ID

FLUSH_SECONDS = 10.0


def cw_backend(region):
    from moto.cloudwatch.models import cloudwatch_backends
    return cloudwatch_backends[DEFAULT_ACCOUNT_ID][region]


def utc_naive(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(tzinfo=None)


class CloudWatchSink:
    """Sends flushed datapoints to an external CloudWatch with PutMetricData
    (boto3, endpoint_url=URL, the datapoints' own region, credentials
    test/test). A thread of its own sends them, so the emulator's lock is never
    held over the network; a failed put is noted (GET /_emulator/dataplane,
    "errors") and dropped, as a lost PutMetricData would be."""

    BATCH = 20  # datums per PutMetricData: within every CloudWatch's limit

    def __init__(self, url, note):
        self.url = url
        self.note = note
        self.clients = {}
        self.queue = queue.Queue(maxsize=1000)
        threading.Thread(target=self.run, name="cloudwatch-sink", daemon=True).start()

    def put(self, region, ns, data):
        try:
            self.queue.put_nowait((region, ns, data))
        except queue.Full:
            self.note(f"cloudwatch {self.url}: queue full, {len(data)} datapoints dropped")

    def client(self, region):
        if region not in self.clients:
            import boto3
            from botocore.config import Config
            self.clients[region] = boto3.client(
                "cloudwatch", endpoint_url=self.url, region_name=region,
                aws_access_key_id="test", aws_secret_access_key="test",
                config=Config(retries={"mode": "standard", "max_attempts": 3},
                              connect_timeout=2, read_timeout=5,
                              disable_request_compression=True))
        return self.clients[region]

    def run(self):
        while True:
            region, ns, data = self.queue.get()
            for i in range(0, len(data), self.BATCH):
                try:
                    self.client(region).put_metric_data(Namespace=ns, MetricData=data[i:i + self.BATCH])
                except Exception as e:
                    self.note(f"cloudwatch {self.url}: PutMetricData {ns} in {region}: {e!r}")


class Metrics:
    """Buffers counts and samples; flush() puts them into moto (under the
    emulator's lock, which the caller holds), or hands them to the sink."""

    def __init__(self, sink=None):
        self.sink = sink
        self.lock = threading.Lock()
        self.counts = {}   # (region, ns, name, dims, unit) -> float
        self.samples = {}  # (region, ns, name, dims, unit) -> [n, sum, min, max]

    def count(self, region, ns, name, dims, value=1.0, unit="Count"):
        key = (region, ns, name, tuple(dims), unit)
        with self.lock:
            self.counts[key] = self.counts.get(key, 0.0) + value

    def sample(self, region, ns, name, dims, value, unit):
        key = (region, ns, name, tuple(dims), unit)
        with self.lock:
            s = self.samples.get(key)
            if s is None:
                self.samples[key] = [1, value, value, value]
            else:
                s[0] += 1
                s[1] += value
                s[2] = min(s[2], value)
                s[3] = max(s[3], value)

    def flush(self, when=None):
        with self.lock:
            counts, samples = self.counts, self.samples
            self.counts, self.samples = {}, {}
        ts = utc_naive(when or time.time())
        if self.sink is not None:  # say UTC explicitly to boto3
            ts = ts.replace(tzinfo=datetime.timezone.utc)
        by_region = {}
        for (region, ns, name, dims, unit), v in counts.items():
            by_region.setdefault((region, ns), []).append({
                "MetricName": name, "Dimensions": [{"Name": k, "Value": d} for k, d in dims],
                "Timestamp": ts, "Unit": unit, "Value": v})
        for (region, ns, name, dims, unit), (n, s, lo, hi) in samples.items():
            by_region.setdefault((region, ns), []).append({
                "MetricName": name, "Dimensions": [{"Name": k, "Value": d} for k, d in dims],
                "Timestamp": ts, "Unit": unit,
                "StatisticValues": {"SampleCount": n, "Sum": s, "Minimum": lo, "Maximum": hi}})
        for (region, ns), data in by_region.items():
            if self.sink is not None:
                self.sink.put(region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), ns, data)
            else:
                cw_backend(region).put_metric_data(ns, data)


# ---- alarm evaluation --------------------------------------------------------
def _dims(dimlist):
    return sorted((d.name, d.value) for d in dimlist)


def period_stat(data, stat):
    """data: list of ('v', value) or ('s', n, sum, min, max)."""
    n = sum(1 if d[0] == "v" else d[1] for d in data)
    if n == 0:
        return None
    total = sum(d[1] if d[0] == "v" else d[2] for d in data)
    if stat == "SampleCount":
        return float(n)
    if stat == "Sum":
        return total
    if stat == "Average":
        return total / n
    if stat == "Minimum":
        return min(d[1] if d[0] == "v" else d[3] for d in data)
    if stat == "Maximum":
        return max(d[1] if d[0] == "v" else d[4] for d in data)
    if stat and stat.startswith("p"):
        vals = sorted(d[1] for d in data if d[0] == "v")
        for d in data:  # a statistic set counts as its average (approximation)
            if d[0] == "s":
                vals.extend([d[2] / d[1]] * int(d[1]))
        vals.sort()
        if not vals:
            return None
        q = float(stat[1:]) / 100.0
        return vals[min(len(vals) - 1, max(0, math.ceil(q * len(vals)) - 1))]
    return None


def breaches(op, value, threshold):
    return {"GreaterThanThreshold": value > threshold,
            "GreaterThanOrEqualToThreshold": value >= threshold,
            "LessThanThreshold": value < threshold,
            "LessThanOrEqualToThreshold": value <= threshold}.get(op, False)


class AlarmEvaluator:
    def __init__(self, hold_seconds):
        self.hold_seconds = hold_seconds
        self.manual = {}  # (region, alarm name) -> time of SetAlarmState

    def state_was_set(self, region, name):
        self.manual[(region, name)] = time.time()

    def evaluate(self, regions, now=None):
        now = now or time.time()
        for region in regions:
            be = cw_backend(region)
            data = be.metric_data
            for alarm in list(be.alarms.values()):
                if alarm.metric_data_queries or not alarm.metric_name or getattr(alarm, "rule", None):
                    continue  # metric math / composite: left alone
                set_at = self.manual.get((region, alarm.name))
                if set_at and now - set_at < min(self.hold_seconds, float(alarm.period or 60)):
                    continue  # SetAlarmState holds until the next evaluation
                self.evaluate_one(alarm, data, now)

    def evaluate_one(self, alarm, data, now):
        period = int(alarm.period or 60)
        n = int(alarm.evaluation_periods or 1)
        m = int(alarm.datapoints_to_alarm or n)
        stat = alarm.extended_statistic or alarm.statistic or "Average"
        want = _dims(alarm.dimensions)
        # The most recent N complete periods, aligned on the period.
        end = math.floor(now / period) * period
        start = end - n * period
        buckets = [[] for _ in range(n)]
        for d in data:
            if d.namespace != alarm.namespace or d.name != alarm.metric_name:
                continue
            if _dims(d.dimensions) != want:
                continue
            ts = d.timestamp.replace(tzinfo=datetime.timezone.utc).timestamp() \
                if d.timestamp.tzinfo is None else d.timestamp.timestamp()
            if not start <= ts < end:
                continue
            i = int((ts - start) // period)
            if hasattr(d, "value"):
                buckets[i].append(("v", float(d.value)))
            else:
                buckets[i].append(("s", float(d.sample_count), float(d.sum), float(d.min), float(d.max)))
        values = [period_stat(b, stat) for b in buckets]
        present = [v for v in values if v is not None]
        treat = alarm.treat_missing_data or "missing"
        breaching = sum(1 for v in present if breaches(alarm.comparison_operator, v, float(alarm.threshold)))
        missing = n - len(present)
        if treat == "breaching":
            breaching += missing
        if breaching >= m:
            new = "ALARM"
        elif not present:
            if treat == "ignore":
                return
            new = "OK" if treat in ("notBreaching", "breaching") else "INSUFFICIENT_DATA"
            if treat == "breaching":
                new = "ALARM" if n >= m else "OK"
        else:
            new = "OK"
        if new == alarm.state_value:
            return
        shown = [round(v, 6) for v in present]
        if new == "ALARM":
            reason = (f"Threshold Crossed: {breaching} out of the last {n} datapoints "
                      f"{shown} were {alarm.comparison_operator} the threshold ({alarm.threshold}).")
        elif new == "OK":
            reason = (f"Threshold Crossed: no datapoints were breaching in the last {n} "
                      f"periods {shown} (minimum {m} required for ALARM).")
        else:
            reason = f"Insufficient Data: {n} datapoints were unknown."
        reason_data = json.dumps({
            "version": "1.0", "queryDate": utc_naive(now).isoformat() + "Z",
            "startDate": utc_naive(start).isoformat() + "Z", "statistic": stat,
            "period": period, "recentDatapoints": shown, "threshold": float(alarm.threshold),
            "evaluatedDatapoints": [{"timestamp": utc_naive(start + i * period).isoformat() + "Z",
                                     "value": v} for i, v in enumerate(values) if v is not None]})
        alarm.update_state(reason, reason_data, new)
