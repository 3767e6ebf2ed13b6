#include "gateway/http_session_impl.hpp"

namespace dibs {

template <>
struct session_stream<http_stream> {
  static void prepare(http_stream& s) {
    s.socket().set_option(boost::asio::ip::tcp::no_delay{true});
  }

  static boost::asio::ip::address peer(http_stream& s) {
    boost::beast::error_code ignored;
    return s.socket().remote_endpoint(ignored).address();
  }

  static void expires_after(http_stream& s, std::chrono::milliseconds d) {
    s.expires_after(d);
  }

  static void expires_never(http_stream& s) {
    s.expires_never();
  }

  static void close(http_stream& s) {
    boost::beast::error_code ignored;
    s.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    s.close();
  }
};

template class basic_http_session<http_stream>;

} // namespace dibs
