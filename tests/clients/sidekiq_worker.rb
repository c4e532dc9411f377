# A Sidekiq worker for the integration tests: run the server with
# `sidekiq -r ./sidekiq_worker.rb -c 1`, push with sidekiq_push.rb.
# REDIS_URL names the dynomite node.
require "sidekiq"

Sidekiq.configure_server { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }

# Sets key to value: the test reads it from the datastores.
class SetWorker
  include Sidekiq::Worker

  def perform(key, value)
    Sidekiq.redis { |r| r.set(key, value) }
  end
end
