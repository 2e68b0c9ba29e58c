#include "worker/broadcast_stage.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.hpp"
#include "http/percent.hpp"
#include "shm/broadcast_ring.hpp"
#include "shm/broadcast_token.hpp"

namespace askr::worker {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

// The fan-out reads at most this much of the ring (or half a subscriber's buffer) before
// it lets the subscribers' writes run, and reads on only once no subscriber has that much
// still waiting, or `pace_wait` has passed: a burst then goes out at the pace of the
// clients that keep up with it, instead of piling up in their buffers faster than any
// socket takes it, and a client that does not read holds the others back by that wait
// per slice until its buffer is full and it is cut off.
constexpr std::size_t pump_slice_bytes = 64 << 10;
constexpr std::chrono::milliseconds pace_wait{50};

// Subscribers come and go in bursts (a page reload everywhere): the per-channel counts in
// shared memory are rewritten once this long after the first change, not per change.
constexpr std::chrono::milliseconds channel_count_delay{100};

// The WHATWG event-stream comment a heartbeat sends ("Parsing an event stream": a line
// that starts with a colon is ignored).
constexpr std::string_view heartbeat_line = ": \n\n";

// A decimal id as a subscription names it; none when it is not one.
std::optional<std::uint64_t> parse_id(std::string_view text) {
    std::uint64_t id = 0;
    if (text.empty() || text.size() > 20) return std::nullopt;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return id;
}

void append_number(std::string& out, std::uint64_t n) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out.append(digits, end);
}

// What a subscription asks for, from its query and headers.
struct Subscription {
    std::vector<std::string> channels;
    std::string token;  // ?token= or Authorization: Bearer
    bool resume = false;
    std::optional<std::uint64_t> last_id;  // none with `resume`: not a decimal id
};

// The refusal of a request for the events path, or 0 with `out` filled.
// The refusal of a subscription to private channels, or 0: each `private-` channel must be
// one the token names, and the token must be signed with this server's secret and unexpired.
int check_private(const Subscription& subscription, const std::string& secret, std::string& why) {
    const bool needs_token = std::any_of(
        subscription.channels.begin(), subscription.channels.end(),
        [](const std::string& c) { return c.starts_with(shm::private_channel_prefix); });
    if (!needs_token) return 0;
    if (subscription.token.empty()) {
        why =
            "private- channels need a token from askr_broadcast_token(): ?token= or "
            "Authorization: Bearer";
        return 401;
    }
    std::vector<std::string> allowed;
    switch (shm::check_broadcast_token(secret, subscription.token, ::time(nullptr), allowed)) {
        case shm::TokenCheck::ok:
            break;
        case shm::TokenCheck::expired:
            why = "the token has expired; get a new one from askr_broadcast_token()";
            return 403;
        case shm::TokenCheck::malformed:
        case shm::TokenCheck::bad_signature:
            why = "the token is not one askr_broadcast_token() made on this server";
            return 403;
    }
    for (const auto& channel : subscription.channels) {
        if (channel.starts_with(shm::private_channel_prefix) &&
            std::find(allowed.begin(), allowed.end(), channel) == allowed.end()) {
            why = "the token does not allow channel \"" + channel + "\"";
            return 403;
        }
    }
    return 0;
}

int parse_subscription(const http::Request& request, const BroadcastSettings& settings,
                       Subscription& out, std::string& why) {
    if (request.method != "GET") {
        why = "subscribe with GET";
        return 405;
    }
    std::string_view query = request.query();
    std::string value;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const auto eq = pair.find('=');
        const std::string_view key = pair.substr(0, eq);
        const std::string_view raw =
            eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        if (key != "channel" && key != "lastEventId" && key != "token") continue;
        if (!http::percent_decode(raw, value)) {
            why = "a malformed percent-escape in the query";
            return 400;
        }
        if (key == "token") {
            out.token = value;
            continue;
        }
        if (key == "lastEventId") {
            out.resume = true;
            out.last_id = parse_id(value);
            continue;
        }
        if (const std::string error = shm::channel_name_error(value, settings.max_channel_length);
            !error.empty()) {
            why = "channel \"" + value.substr(0, 80) + "\" " + error;
            return 400;
        }
        if (std::find(out.channels.begin(), out.channels.end(), value) != out.channels.end())
            continue;
        if (out.channels.size() == settings.max_channels) {
            why = "more than " + std::to_string(settings.max_channels) +
                  " channels in one subscription ([broadcast] max_channels)";
            return 400;
        }
        out.channels.push_back(value);
    }
    if (out.channels.empty()) {
        why = "name at least one channel: " + std::string(broadcast_path) + "?channel=NAME";
        return 400;
    }
    if (const std::string_view authorization = request.header("authorization");
        authorization.size() > 7 && authorization.substr(0, 7) == "Bearer ") {
        out.token = authorization.substr(7);
    }
    // EventSource sends the last id it saw in Last-Event-ID when it reconnects (WHATWG
    // HTML, "server-sent events"); the query parameter is for a first connection of a
    // page that kept the id itself.
    if (const std::string_view header = request.header("last-event-id"); !header.empty()) {
        out.resume = true;
        out.last_id = parse_id(header);
    }
    return 0;
}

}  // namespace

void format_event(std::uint64_t id, std::string_view name, std::string_view data,
                  std::string& out) {
    out.append("id: ");
    append_number(out, id);
    out += '\n';
    if (!name.empty()) out.append("event: ").append(name).append("\n");
    // One data line per line of the payload: CR LF, LF and CR each end a line in the
    // event-stream format. The space after the colon is the one a parser strips, so that
    // a payload line that starts with a space keeps it.
    for (;;) {
        const auto end = data.find_first_of("\r\n");
        out.append("data: ").append(data.substr(0, end)).append("\n");
        if (end == std::string_view::npos) break;
        const bool crlf = data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n';
        data.remove_prefix(end + (crlf ? 2 : 1));
    }
    out += '\n';
}

using Clock = asio::steady_timer::clock_type;

struct BroadcastStage::Subscriber {
    explicit Subscriber(asio::io_context& io) : wake(io) {}

    http::ResponseSink* sink = nullptr;
    std::vector<std::string> channels;
    // Where it is in Fanout::all and in the list of each of its channels (same order as
    // `channels`): it leaves them in constant time.
    std::size_t in_all = 0;
    std::vector<std::size_t> in_channel;
    std::uint64_t last_id = 0;  // events up to this id are not for it (sent, or resumed past)
    std::string pending;        // formatted events not yet handed to the sink
    asio::steady_timer wake;    // waited on until the next heartbeat; cancelled to wake
    Clock::time_point last_write;  // the heartbeat is due `heartbeat` after it
    bool waiting = false;   // the coroutine waits on `wake`: no send() is under way
    bool queued = false;    // in Fanout::to_flush
    bool held = false;      // the sink holds part of a try_send(): the coroutine send()s it
    bool behind = false;    // counted in Fanout::behind
    bool closing = false;   // a drain: end the stream once `pending` is written
    bool cut = false;       // its buffer overflowed: the response was cut off
};

struct BroadcastStage::Fanout {
    Fanout(asio::io_context& i, shm::BroadcastRing& r, std::size_t slot_index,
           const BroadcastSettings& s)
        : io(i),
          ring(r),
          slot(r.slot(slot_index)),
          index(slot_index),
          settings(s),
          slice(std::min(pump_slice_bytes, s.buffer / 2)),
          wake_fd(i),
          pace_timer(i),
          channel_table(r.channel_table(slot_index)),
          channel_timer(i) {}

    asio::io_context& io;
    shm::BroadcastRing& ring;
    shm::BroadcastSlot& slot;
    std::size_t index;
    BroadcastSettings settings;
    std::size_t slice;  // pump_slice_bytes, or less for a small buffer
    asio::posix::stream_descriptor wake_fd;
    asio::steady_timer pace_timer;
    bool pacing = false;  // the pump waits for subscribers that have a slice waiting
    shm::BroadcastRing::Cursor cursor;
    std::uint64_t last_id = 0;  // the newest event this reader has passed
    // Looked up by the event's channel as it lies in the scratch buffer, without a copy.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view name) const {
            return std::hash<std::string_view>{}(name);
        }
    };
    std::unordered_map<std::string, std::vector<Subscriber*>, NameHash, std::equal_to<>> by_channel;
    std::vector<Subscriber*> all;
    std::vector<Subscriber*> to_flush;  // got bytes in this pump(): written at its end
    std::size_t behind = 0;             // subscribers with a slice or more waiting
    bool closing = false;
    bool pump_posted = false;
    std::uint64_t delivered = 0;  // in this pump, added to the slot's count once
    std::string scratch, formatted;
    shm::ChannelTable channel_table;  // this slot's subscribers per channel, for the metrics
    asio::steady_timer channel_timer;
    bool channel_count_due = false;
    std::vector<std::pair<std::string_view, std::uint32_t>> channel_counts;

    // Subscribers joined or left: the per-channel counts are rewritten a little later.
    void channels_changed() {
        if (channel_count_due || channel_table.capacity() == 0) return;
        channel_count_due = true;
        channel_timer.expires_after(channel_count_delay);
        channel_timer.async_wait([this](boost::system::error_code ec) {
            if (ec == asio::error::operation_aborted) return;  // the worker is going away
            channel_count_due = false;
            write_channel_counts();
        });
    }

    // The busiest channels of this worker into its table, the others summed.
    void write_channel_counts() {
        channel_counts.clear();
        for (const auto& [channel, subscribers] : by_channel)
            channel_counts.emplace_back(channel, static_cast<std::uint32_t>(subscribers.size()));
        const std::size_t kept = std::min(channel_counts.size(), channel_table.capacity());
        const auto busier = [](const auto& a, const auto& b) {
            return a.second != b.second ? a.second > b.second : a.first < b.first;
        };
        std::nth_element(channel_counts.begin(), channel_counts.begin() + kept,
                         channel_counts.end(), busier);
        std::uint64_t other = 0;
        for (std::size_t i = kept; i < channel_counts.size(); ++i) other += channel_counts[i].second;
        channel_counts.resize(kept);
        channel_table.write(channel_counts, other);
    }

    void add(Subscriber& s) {
        if (all.empty()) cursor = ring.end(&last_id);  // nobody followed the ring: from now
        s.in_all = all.size();
        all.push_back(&s);
        for (const auto& channel : s.channels) {
            auto& list = by_channel[channel];
            s.in_channel.push_back(list.size());
            list.push_back(&s);
        }
        s.last_id = last_id;
        s.last_write = Clock::now();
        // Stored before the ring is looked at again (schedule()): a publisher that did not
        // see the count yet wrote an event this worker then finds (shm/broadcast_ring.cpp).
        slot.subscribers.store(static_cast<std::uint32_t>(all.size()), std::memory_order_seq_cst);
        slot.connects.fetch_add(1, std::memory_order_relaxed);
        channels_changed();
    }

    // The last of `list` takes the place of the one at `at`, which leaves.
    static void take_place(std::vector<Subscriber*>& list, std::size_t at,
                           const std::string& channel) {
        Subscriber* moved = list.back();
        list[at] = moved;
        list.pop_back();
        if (at == list.size()) return;
        const auto i = std::find(moved->channels.begin(), moved->channels.end(), channel);
        moved->in_channel[static_cast<std::size_t>(i - moved->channels.begin())] = at;
    }

    void remove(Subscriber& s) {
        for (std::size_t i = 0; i < s.channels.size(); ++i) {
            auto it = by_channel.find(s.channels[i]);
            take_place(it->second, s.in_channel[i], s.channels[i]);
            if (it->second.empty()) by_channel.erase(it);
        }
        Subscriber* moved = all.back();
        all[s.in_all] = moved;
        moved->in_all = s.in_all;
        all.pop_back();
        if (s.behind) --behind;
        slot.subscribers.store(static_cast<std::uint32_t>(all.size()), std::memory_order_relaxed);
        channels_changed();
    }

    bool wants(const Subscriber& s, std::string_view channel) const {
        return std::find(s.channels.begin(), s.channels.end(), channel) != s.channels.end();
    }

    // Wakes the subscriber's coroutine: it writes `pending` with send(), or ends.
    static void notify(Subscriber& s) {
        if (s.waiting) s.wake.cancel();
    }

    // Keeps `behind` in step with a subscriber whose `pending` or `cut` changed.
    void recount(Subscriber& s) {
        const bool now_behind = !s.cut && s.pending.size() >= slice;
        if (now_behind == s.behind) return;
        s.behind = now_behind;
        if (now_behind) {
            ++behind;
        } else {
            --behind;
        }
    }

    // `s` got bytes in `pending`: flush() writes them at the end of this pump.
    void queue(Subscriber& s) {
        recount(s);
        if (s.queued) return;
        s.queued = true;
        to_flush.push_back(&s);
    }

    // What the pump gave: straight to the socket of each subscriber whose coroutine is idle
    // (an event reaches ten thousand subscribers as ten thousand sendmsg() calls, with no
    // handler, no timer and no allocation per subscriber); the coroutine's send() takes
    // over where the socket is full, the sink cannot write at once, or a write is under way.
    void flush() {
        const auto now = Clock::now();
        for (Subscriber* s : to_flush) {
            s->queued = false;
            if (s->cut || s->pending.empty()) continue;
            if (s->waiting && !s->held) {
                const http::TrySend sent = s->sink->try_send(s->pending);
                if (sent != http::TrySend::not_now) {
                    s->pending.clear();
                    s->last_write = now;
                    recount(*s);
                    if (sent == http::TrySend::sent) continue;
                    s->held = true;
                }
            }
            notify(*s);
        }
        to_flush.clear();
    }

    // The event-stream text of askr-reset: the events since the subscriber's id are lost;
    // its id is where the stream goes on from.
    void append_reset(Subscriber& s, std::uint64_t id) {
        format_event(id, "askr-reset", std::to_string(id), s.pending);
        s.last_id = std::max(s.last_id, id);
        slot.resets.fetch_add(1, std::memory_order_relaxed);
    }

    void deliver(Subscriber& s, std::uint64_t id) {
        if (s.cut || id <= s.last_id) return;
        s.last_id = id;
        if (!s.pending.empty() && s.pending.size() + formatted.size() > settings.buffer) {
            // It does not read: cut it off rather than hold more for it (it reconnects and
            // resumes from its Last-Event-ID, or gets askr-reset). One event is always
            // taken, however long its data lines make it: the buffer bounds what piles up.
            s.cut = true;
            recount(s);
            slot.drops.fetch_add(1, std::memory_order_relaxed);
            s.sink->cut();
            notify(s);
            return;
        }
        s.pending += formatted;
        ++delivered;
        queue(s);
    }

    // Reads the ring from `from` up to this reader's cursor into `s` (a resume). False when
    // the events are gone or would overflow its buffer: the subscriber then gets a reset.
    bool replay(Subscriber& s, shm::BroadcastRing::Cursor from) {
        shm::BroadcastEvent event;
        while (from.position < cursor.position) {
            const auto read = ring.read(from, event, scratch);
            if (read != shm::BroadcastRing::Read::event) return false;
            if (event.id <= s.last_id || !wants(s, event.channel)) continue;
            format_event(event.id, event.name, event.data, s.pending);
            s.last_id = event.id;
            slot.deliveries.fetch_add(1, std::memory_order_relaxed);
            if (s.pending.size() > settings.buffer) return false;
        }
        return true;
    }

    bool anyone_behind() const { return behind > 0; }

    void pace() {
        if (pacing) return;
        pacing = true;
        pace_timer.expires_after(pace_wait);
        pace_timer.async_wait([this](boost::system::error_code ec) {
            pacing = false;
            pump(!ec);  // the wait ran out: one more slice, whoever is behind
        });
    }

    // A subscriber's write completed: the pump may go on.
    void on_sent() {
        if (pacing && !anyone_behind()) pace_timer.cancel();
    }

    void schedule() {
        if (pump_posted) return;
        pump_posted = true;
        asio::post(io, [this] { pump(); });
    }

    void pump(bool forced = false) {
        pump_posted = false;
        if (all.empty() || pacing) return;
        if (!forced && anyone_behind()) {
            pace();
            return;
        }
        const bool more = read_slice();
        slot.deliveries.fetch_add(delivered, std::memory_order_relaxed);
        delivered = 0;
        flush();
        if (more) schedule();  // more may be there; the subscribers' writes go first
    }

    // Up to a slice of the ring into the subscribers' `pending`. True when the slice was
    // used up before the ring's end.
    bool read_slice() {
        shm::BroadcastEvent event;
        for (std::size_t taken = 0; taken < slice;) {
            const auto read = ring.read(cursor, event, scratch);
            if (read == shm::BroadcastRing::Read::none) return false;
            if (read == shm::BroadcastRing::Read::overrun) {
                // This worker fell a whole ring behind: what was lost is unknown, so every
                // subscriber starts over from now.
                cursor = ring.end(&last_id);
                for (Subscriber* s : all) {
                    if (s->cut) continue;
                    append_reset(*s, last_id);
                    queue(*s);
                }
                return false;
            }
            taken += shm::BroadcastRing::record_overhead + scratch.size();
            last_id = event.id;
            const auto it = by_channel.find(event.channel);
            if (it == by_channel.end()) continue;
            formatted.clear();
            format_event(event.id, event.name, event.data, formatted);
            for (Subscriber* s : it->second) deliver(*s, event.id);
        }
        return true;
    }

    asio::awaitable<void> watch() {
        std::uint64_t count = 0;
        for (;;) {
            auto [ec, n] = co_await asio::async_read(wake_fd, asio::buffer(&count, sizeof count),
                                                     as_tuple(use_awaitable));
            if (ec) co_return;
            slot.wake_pending.store(0, std::memory_order_seq_cst);
            schedule();
        }
    }
};

BroadcastStage::BroadcastStage(http::Handler& next, asio::io_context& io, shm::BroadcastRing& ring,
                               std::size_t slot, const BroadcastSettings& settings)
    : next_(next), fanout_(std::make_unique<Fanout>(io, ring, slot, settings)) {}

BroadcastStage::~BroadcastStage() = default;

void BroadcastStage::start() {
    fanout_->wake_fd.assign(::dup(fanout_->ring.wake_fd(fanout_->index)));
    asio::co_spawn(fanout_->io, fanout_->watch(), core::log_coroutine_exception);
}

void BroadcastStage::close_all() {
    fanout_->closing = true;
    for (Subscriber* s : fanout_->all) {
        s->closing = true;
        Fanout::notify(*s);
    }
}

int BroadcastStage::refuse_before_body(const http::Request& request) {
    if (request.path() != broadcast_path) return next_.refuse_before_body(request);
    return request.method == "GET" ? 0 : 405;
}

bool BroadcastStage::handle_now(http::Request& request, http::ResponseSink& sink) {
    if (request.path() != broadcast_path) return next_.handle_now(request, sink);
    Subscription subscription;
    std::string why;
    int status = parse_subscription(request, fanout_->settings, subscription, why);
    if (status == 0) status = check_private(subscription, fanout_->ring.secret(), why);
    if (status == 0 && fanout_->closing) {
        status = 503;
        why = "this worker is stopping; reconnect";
    } else if (status == 0 && fanout_->all.size() >= fanout_->settings.max_subscribers) {
        status = 503;
        why = "too many subscribers on this worker ([broadcast] max_subscribers)";
    }
    if (status == 0) return false;  // a stream: handle()
    fanout_->slot.refused.fetch_add(1, std::memory_order_relaxed);
    http::ResponseHead head;
    head.status = status;
    head.fields.add("Content-Type", "text/plain; charset=utf-8");
    head.fields.add("Cache-Control", "no-store");
    if (status == 405) head.fields.add("Allow", "GET");
    if (status == 503) head.fields.add("Retry-After", "1");
    if (status == 401) head.fields.add("WWW-Authenticate", "Bearer");
    sink.send_now(head, why + "\n");
    return true;
}

asio::awaitable<http::HandlerResult> BroadcastStage::handle(http::Request& request,
                                                            http::ResponseSink& sink) {
    if (request.path() != broadcast_path) co_return co_await next_.handle(request, sink);
    if (!handle_now(request, sink)) co_await serve(request, sink);
    co_return http::HandlerResult{};
}

asio::awaitable<void> BroadcastStage::serve(http::Request& request, http::ResponseSink& sink) {
    Fanout& fanout = *fanout_;
    Subscription subscription;
    std::string why;
    parse_subscription(request, fanout.settings, subscription, why);  // checked by handle_now()
    Subscriber s(fanout.io);
    s.sink = &sink;
    s.channels = std::move(subscription.channels);
    fanout.add(s);
    struct Leave {
        Fanout& fanout;
        Subscriber& s;
        ~Leave() { fanout.remove(s); }
    } leave{fanout, s};

    std::string sending = "retry: ";
    append_number(sending, fanout.settings.retry_ms);
    sending += "\n\n";
    if (subscription.resume) {
        const auto from =
            subscription.last_id ? fanout.ring.after(*subscription.last_id) : std::nullopt;
        if (from) s.last_id = *subscription.last_id;
        if (!from || !fanout.replay(s, *from)) {
            s.pending.clear();
            s.last_id = 0;
            fanout.append_reset(s, fanout.last_id);
        }
    }
    sending += s.pending;
    s.pending.clear();
    http::ResponseHead head;
    head.fields.add("Content-Type", "text/event-stream");
    head.fields.add("Cache-Control", "no-store");
    // nginx, when it is in front, would otherwise buffer the stream.
    head.fields.add("X-Accel-Buffering", "no");
    fanout.schedule();  // events published while this subscriber was being added
    bool ok = co_await sink.send(&head, sending, false);
    s.last_write = Clock::now();
    // The pump writes what it can itself (Fanout::flush()); this loop writes the rest, and
    // the heartbeats, and ends the stream.
    while (ok && !s.cut) {
        if (s.pending.empty() && !s.held) {
            if (s.closing) break;
            s.wake.expires_at(s.last_write + fanout.settings.heartbeat);
            s.waiting = true;
            co_await s.wake.async_wait(as_tuple(use_awaitable));
            s.waiting = false;
            if (s.cut) break;
            if (s.pending.empty() && !s.held) {
                if (s.closing || Clock::now() < s.last_write + fanout.settings.heartbeat) continue;
                s.pending = heartbeat_line;
            }
        }
        s.held = false;
        sending.swap(s.pending);
        s.pending.clear();
        fanout.recount(s);
        ok = co_await sink.send(nullptr, sending, false);
        fanout.on_sent();
        s.last_write = Clock::now();
    }
    // A drain ends the stream as a complete response (the last chunk, END_STREAM), so that
    // EventSource reconnects; a subscriber that was cut off or left gets nothing more.
    if (ok && !s.cut) co_await sink.send(nullptr, {}, true);
}

}  // namespace askr::worker
