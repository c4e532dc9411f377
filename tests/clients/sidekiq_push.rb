# Pushes one SetWorker job with Sidekiq's client API through REDIS_URL.
# Usage: REDIS_URL=redis://127.0.0.1:PORT/0 ruby sidekiq_push.rb KEY VALUE
require_relative "sidekiq_worker"

jid = SetWorker.perform_async(ARGV.fetch(0), ARGV.fetch(1))
abort "no job id" if jid.nil? || jid.empty?
puts "pushed #{jid}"
