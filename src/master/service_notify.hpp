#pragma once
#include <chrono>
#include <string>
#include <string_view>

#include "core/unique_fd.hpp"

namespace askr::master {

/// Tells the service manager (systemd, `Type=notify`) what the master is doing, through
/// the datagram socket named by $NOTIFY_SOCKET: READY=1 once listening, RELOADING=1 and
/// READY=1 around a reload, STOPPING=1, STATUS= lines a person reads in `systemctl status`,
/// and WATCHDOG=1 pings while $WATCHDOG_USEC asks for them. Without $NOTIFY_SOCKET every
/// call does nothing. The variables are removed from the environment, so that no child
/// (PHP included) inherits them.
class ServiceNotifier {
  public:
    using Clock = std::chrono::steady_clock;

    ServiceNotifier();

    void ready(std::string_view status);
    void reloading(std::string_view status);
    void stopping(std::string_view status);
    void status(std::string_view status);
    /// Sends WATCHDOG=1 when half the watchdog interval has passed since the last one.
    /// Called from the master's supervision loop, so a stuck loop stops the pings.
    void watchdog(Clock::time_point now);
    /// The longest the master's loop may sleep so that the pings stay on time (0: none).
    std::chrono::milliseconds watchdog_period() const { return period_; }

  private:
    void send(const std::string& message);

    core::UniqueFd socket_;
    std::string address_;  // the path; '\0'-prefixed for an abstract socket
    std::chrono::milliseconds period_{0};
    Clock::time_point last_ping_{};
};

}  // namespace askr::master
