// bank -- CAF type IDs of every bank message (they may cross nodes).
#pragma once

#include "annals/runtime_types.hpp"

#include "bank/account.hpp"
#include "bank/transfer.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(bank, caf::id_block::annals::end)
CAF_ADD_TYPE_ID(bank, (bank::open_account))
CAF_ADD_TYPE_ID(bank, (bank::credit))
CAF_ADD_TYPE_ID(bank, (bank::withdraw))
CAF_ADD_TYPE_ID(bank, (bank::change_credit_limit))
CAF_ADD_TYPE_ID(bank, (bank::close_account))
CAF_ADD_TYPE_ID(bank, (bank::get_account))
CAF_ADD_TYPE_ID(bank, (bank::account_opened))
CAF_ADD_TYPE_ID(bank, (bank::account_credited))
CAF_ADD_TYPE_ID(bank, (bank::account_debited))
CAF_ADD_TYPE_ID(bank, (bank::credit_limit_changed))
CAF_ADD_TYPE_ID(bank, (bank::account_closed))
CAF_ADD_TYPE_ID(bank, (bank::account_view))
CAF_ADD_TYPE_ID(bank, (bank::start_transfer))
CAF_ADD_TYPE_ID(bank, (bank::record_debit))
CAF_ADD_TYPE_ID(bank, (bank::record_credit))
CAF_ADD_TYPE_ID(bank, (bank::record_failure))
CAF_ADD_TYPE_ID(bank, (bank::record_refund_needed))
CAF_ADD_TYPE_ID(bank, (bank::record_refund))
CAF_ADD_TYPE_ID(bank, (bank::get_transfer))
CAF_ADD_TYPE_ID(bank, (bank::transfer_started))
CAF_ADD_TYPE_ID(bank, (bank::transfer_debited))
CAF_ADD_TYPE_ID(bank, (bank::transfer_completed))
CAF_ADD_TYPE_ID(bank, (bank::transfer_failed))
CAF_ADD_TYPE_ID(bank, (bank::transfer_refunding))
CAF_ADD_TYPE_ID(bank, (bank::transfer_compensated))
CAF_ADD_TYPE_ID(bank, (bank::transfer_view))
CAF_END_TYPE_ID_BLOCK(bank)
