// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/client/message_label.hpp>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_message_label {

using livechat::client::human_size;
using livechat::client::message_label;

TEST_CASE("message_label: text as is, other kinds as a bracketed label", "[client]") {
  livechat::message m;
  m.text = "hello";
  CHECK(message_label(m) == "hello");

  m.kind = livechat::message_kind::image;
  m.text = "name.jpg";
  livechat::file_attachment f;
  f.name = "name.jpg";
  f.status = livechat::attachment_status::ready;
  f.size = 123 * 1024 + 500;
  m.attachment = f;
  CHECK(message_label(m) == "[image name.jpg 123 KiB]");
  f.status = livechat::attachment_status::pending;
  m.attachment = f;
  CHECK(message_label(m) == "[image name.jpg pending]");
  m.kind = livechat::message_kind::audio;
  f.status = livechat::attachment_status::failed;
  m.attachment = f;
  CHECK(message_label(m) == "[audio name.jpg failed]");

  m.kind = livechat::message_kind::sticker;
  m.attachment = livechat::sticker_attachment{"1", "2"};
  CHECK(message_label(m) == "[sticker]");
  m.kind = livechat::message_kind::location;
  m.attachment = livechat::location_attachment{"Tokyo Tower", "", 35.6, 139.7};
  CHECK(message_label(m) == "[location Tokyo Tower]");
}

TEST_CASE("human_size: bytes, KiB, MiB", "[client]") {
  CHECK(human_size(0) == "0 B");
  CHECK(human_size(1023) == "1023 B");
  CHECK(human_size(1024) == "1 KiB");
  CHECK(human_size(1024 * 1024 - 1) == "1023 KiB");
  CHECK(human_size(1024 * 1024) == "1.0 MiB");
  CHECK(human_size(10 * 1024 * 1024 + 512 * 1024) == "10.5 MiB");
}

}  // namespace livechat_unit_message_label
