#include "http/h1/chunked_framing.hpp"

#include "core/text.hpp"

namespace askr::http::h1 {

namespace {
bool is_control(char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; }
}  // namespace

ChunkedFraming::Result ChunkedFraming::feed(const char* data, std::size_t length, std::size_t& used) {
    std::size_t i = 0;
    for (; i < length && state_ != State::done; ++i) {
        const char c = data[i];
        switch (state_) {
            case State::size_start:
            case State::size: {
                const int v = core::hex_digit_value(c);
                if (v >= 0) {
                    if (remaining_ > (UINT64_MAX >> 4)) return Result::invalid;  // overflow
                    remaining_ = remaining_ * 16 + static_cast<unsigned>(v);
                    state_ = State::size;
                } else if (state_ == State::size_start) {
                    return Result::invalid;  // 1*HEXDIG
                } else if (c == ';' || c == ' ' || c == '\t') {
                    state_ = State::extension;
                } else if (c == '\r') {
                    state_ = State::size_lf;
                } else {
                    return Result::invalid;
                }
                break;
            }
            case State::extension:
                if (c == '\r') {
                    state_ = State::size_lf;
                } else if (is_control(c)) {
                    return Result::invalid;
                }
                break;
            case State::size_lf:
                if (c != '\n') return Result::invalid;
                last_chunk_ = remaining_ == 0;
                state_ = last_chunk_ ? State::trailer_start : State::data;
                break;
            case State::data: {
                std::size_t take = length - i;
                if (take > remaining_) take = static_cast<std::size_t>(remaining_);
                remaining_ -= take;
                i += take - 1;
                if (remaining_ == 0) state_ = State::data_cr;
                break;
            }
            case State::data_cr:
                if (c != '\r') return Result::invalid;
                state_ = State::data_lf;
                break;
            case State::data_lf:
                if (c != '\n') return Result::invalid;
                state_ = State::size_start;
                break;
            case State::trailer_start:
                if (c == '\r') {
                    state_ = State::final_lf;
                } else if (is_control(c)) {
                    return Result::invalid;
                } else {
                    state_ = State::trailer;
                }
                break;
            case State::trailer:
                if (c == '\r') {
                    state_ = State::trailer_lf;
                } else if (is_control(c)) {
                    return Result::invalid;
                }
                break;
            case State::trailer_lf:
                if (c != '\n') return Result::invalid;
                state_ = State::trailer_start;
                break;
            case State::final_lf:
                if (c != '\n') return Result::invalid;
                state_ = State::done;
                break;
            case State::done: break;
        }
    }
    used = i;
    return state_ == State::done ? Result::done : Result::more;
}

}  // namespace askr::http::h1
