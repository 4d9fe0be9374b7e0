#!/usr/bin/env python3
"""Writes the tool-search evaluation set as JSON to stdout: 300 tool
definitions shaped like a real agent's SaaS catalog, and natural-language
queries, each with the one tool a person would pick for it, in two sets:
"dev" queries, which the ranking may be tuned on, and "heldout" queries,
which only measure it, so a gain on dev that does not carry over shows.

The catalog is built to be hard on purpose: every object has its create /
get / update / delete / list / search siblings, and the same objects recur in
different apps (a CRM contact and a helpdesk requester, a calendar event and
a video meeting, a billing customer and a shop customer, a chat message and
an email). The queries are written as an agent asks, not copied from the
descriptions. Deterministic: the same script always prints the same bytes.

    python3 tests/search/catalog.py > tests/search/catalog300.json
"""
import json
import sys

TOOLS = []


def prop_schema(props):
    """inputSchema from [(name, type, description, required?)...]."""
    properties, required = {}, []
    for p in props:
        name, typ, desc = p[0], p[1], p[2]
        if typ == "string[]":
            s = {"type": "array", "items": {"type": "string"}, "description": desc}
        elif isinstance(typ, list):
            s = {"type": "string", "enum": typ, "description": desc}
        else:
            s = {"type": typ, "description": desc}
        properties[name] = s
        if len(p) > 3 and p[3]:
            required.append(name)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def tool(name, title, description, props=()):
    TOOLS.append({"name": name, "title": title, "description": description,
                  "inputSchema": prop_schema(props)})


PAGING = [("limit", "integer", "Maximum number of results to return (1-100)."),
          ("cursor", "string", "Opaque cursor from a previous page.")]


def crud(app, product, key, noun, plural, fields, verbs="cgudls", filters=(), searchable=""):
    """The usual create/get/update/delete/list/search family for one object."""
    nid = (key + "_id", "string", "ID of the %s." % noun, True)
    field_names = ", ".join(f[0].replace("_", " ") for f in fields[:4])
    if "c" in verbs:
        tool("%s_create_%s" % (app, key), "Create %s" % noun,
             "Creates a new %s in %s and returns it with its ID." % (noun, product), fields)
    if "g" in verbs:
        tool("%s_get_%s" % (app, key), "Get %s" % noun,
             "Returns one %s from %s by ID, with %s." % (noun, product, field_names), [nid])
    if "u" in verbs:
        tool("%s_update_%s" % (app, key), "Update %s" % noun,
             "Changes fields of an existing %s in %s; fields left out keep their values."
             % (noun, product), [nid] + [f[:3] for f in fields])
    if "d" in verbs:
        tool("%s_delete_%s" % (app, key), "Delete %s" % noun,
             "Permanently deletes a %s from %s." % (noun, product), [nid])
    if "l" in verbs:
        tool("%s_list_%s" % (app, plural.replace(" ", "_")), "List %s" % plural,
             "Lists %s in %s, newest first, with optional filters." % (plural, product),
             list(filters) + PAGING)
    if "s" in verbs:
        tool("%s_search_%s" % (app, plural.replace(" ", "_")), "Search %s" % plural,
             "Full-text search over %s in %s%s." % (plural, product,
                                                     " by " + searchable if searchable else ""),
             [("query", "string", "Search text.", True)] + PAGING)


# ---- CRM --------------------------------------------------------------------
CRM = "the CRM"
crud("crm", CRM, "contact", "contact", "contacts",
     [("first_name", "string", "Given name."), ("last_name", "string", "Family name."),
      ("email", "string", "Primary email address."), ("phone", "string", "Phone number in E.164 form."),
      ("account_id", "string", "Company account the contact belongs to."),
      ("job_title", "string", "Role at the company.")],
     filters=[("account_id", "string", "Only contacts of this company account."),
              ("owner_id", "string", "Only contacts owned by this sales rep.")],
     searchable="name, email, phone and company")
tool("crm_merge_contacts", "Merge duplicate contacts",
     "Merges two contact records that describe the same person; activity history is kept on the survivor.",
     [("primary_contact_id", "string", "Contact that survives.", True),
      ("duplicate_contact_id", "string", "Contact merged into the primary and removed.", True)])
crud("crm", CRM, "account", "company account", "accounts",
     [("name", "string", "Company name."), ("domain", "string", "Company website domain."),
      ("industry", "string", "Industry."), ("employee_count", "integer", "Headcount."),
      ("annual_revenue", "number", "Annual revenue in USD.")],
     verbs="cguls", searchable="company name or domain")
crud("crm", CRM, "deal", "deal", "deals",
     [("name", "string", "Deal name."), ("amount", "number", "Expected value."),
      ("stage", ["prospecting", "qualified", "proposal", "negotiation", "won", "lost"], "Pipeline stage."),
      ("close_date", "string", "Expected close date."), ("account_id", "string", "Company account.")],
     verbs="cgudl",
     filters=[("stage", "string", "Only deals in this pipeline stage."),
              ("owner_id", "string", "Only deals owned by this sales rep.")])
tool("crm_move_deal_stage", "Move deal to stage",
     "Moves a sales opportunity to another pipeline stage, e.g. from proposal to negotiation or to closed won.",
     [("deal_id", "string", "ID of the deal.", True),
      ("stage", ["prospecting", "qualified", "proposal", "negotiation", "won", "lost"], "Target stage.", True),
      ("lost_reason", "string", "Why the deal was lost, when the stage is lost.")])
crud("crm", CRM, "lead", "lead", "leads",
     [("first_name", "string", "Given name."), ("last_name", "string", "Family name."),
      ("email", "string", "Email address."), ("company", "string", "Company name."),
      ("source", "string", "Where the lead came from (web form, event, referral).")],
     verbs="cgul", filters=[("status", "string", "Lead status: new, working, nurturing, disqualified.")])
tool("crm_convert_lead", "Convert lead",
     "Converts a qualified lead into a contact, a company account and optionally a deal.",
     [("lead_id", "string", "ID of the lead.", True),
      ("create_deal", "boolean", "Also open a deal for the new account.")])
tool("crm_log_activity", "Log call or meeting",
     "Records a sales call, meeting or email on a contact's activity timeline.",
     [("contact_id", "string", "Contact the activity was with.", True),
      ("type", ["call", "meeting", "email"], "Kind of activity.", True),
      ("notes", "string", "What was discussed."), ("occurred_at", "string", "When it happened.")])

# ---- calendar and booking -----------------------------------------------------
CAL = "the user's calendar"
EVENT_FIELDS = [("summary", "string", "Event title."), ("start", "string", "Start time, RFC 3339."),
                ("end", "string", "End time, RFC 3339."),
                ("attendees", "string[]", "Email addresses of the people invited."),
                ("location", "string", "Room or address."),
                ("description", "string", "Agenda or notes shown in the invite.")]
crud("calendar", CAL, "event", "calendar event", "events", EVENT_FIELDS, verbs="cgul",
     filters=[("time_min", "string", "Start of the time range."),
              ("time_max", "string", "End of the time range."),
              ("calendar_id", "string", "Calendar to read; the primary one by default.")])
tool("calendar_cancel_event", "Cancel event",
     "Cancels a calendar event and sends a cancellation notice to every attendee.",
     [("event_id", "string", "ID of the event.", True),
      ("message", "string", "Note included in the cancellation sent to attendees.")])
tool("calendar_respond_to_event", "RSVP to invitation",
     "Accepts, declines or tentatively accepts an invitation on the user's behalf.",
     [("event_id", "string", "ID of the event.", True),
      ("response", ["accepted", "declined", "tentative"], "The RSVP.", True),
      ("comment", "string", "Optional note to the organizer.")])
tool("calendar_find_free_time", "Find free time",
     "Finds time slots when all the given people are free, using their calendars' busy times.",
     [("attendees", "string[]", "Email addresses of the people who must attend.", True),
      ("duration_minutes", "integer", "Length of the slot needed.", True),
      ("time_min", "string", "Earliest start."), ("time_max", "string", "Latest end.")])
tool("calendar_list_calendars", "List calendars",
     "Lists the calendars the user can see: their own, shared team calendars and subscribed ones.", PAGING)
tool("calendar_share_calendar", "Share calendar",
     "Gives another person access to one of the user's calendars.",
     [("calendar_id", "string", "Calendar to share.", True),
      ("email", "string", "Person to share with.", True),
      ("role", ["freeBusyReader", "reader", "writer"], "Access level.")])
tool("booking_list_availability", "List bookable slots",
     "Lists the open slots on a public booking page that customers can book.",
     [("booking_page_id", "string", "Booking page.", True), ("date", "string", "Day to check.")])
tool("booking_create_booking", "Book appointment",
     "Books an appointment slot on a booking page for a customer and emails them a confirmation.",
     [("booking_page_id", "string", "Booking page.", True), ("slot_start", "string", "Chosen slot.", True),
      ("customer_name", "string", "Customer's name.", True), ("customer_email", "string", "Customer's email.", True)])
tool("booking_reschedule_booking", "Reschedule appointment",
     "Moves a customer's appointment to another open slot and notifies them.",
     [("booking_id", "string", "Booking to move.", True), ("new_slot_start", "string", "New slot.", True)])
tool("booking_cancel_booking", "Cancel appointment",
     "Cancels a customer's appointment booking and frees the slot.",
     [("booking_id", "string", "Booking to cancel.", True), ("reason", "string", "Reason shown to the customer.")])
tool("booking_list_bookings", "List appointments",
     "Lists upcoming customer appointments booked through booking pages.",
     [("booking_page_id", "string", "Only this booking page.")] + PAGING)

# ---- email ------------------------------------------------------------------
MSG = [("message_id", "string", "ID of the email message.", True)]
tool("mail_send_email", "Send email",
     "Sends an email from the user's mailbox.",
     [("to", "string[]", "Recipients.", True), ("cc", "string[]", "Carbon-copy recipients."),
      ("subject", "string", "Subject line.", True), ("body", "string", "Message body, plain text or HTML.", True),
      ("attachments", "string[]", "File IDs to attach.")])
tool("mail_create_draft", "Create email draft",
     "Saves an email as a draft without sending it, so a person can review it first.",
     [("to", "string[]", "Recipients."), ("subject", "string", "Subject line."), ("body", "string", "Message body.")])
tool("mail_send_draft", "Send draft", "Sends an existing draft email.",
     [("draft_id", "string", "ID of the draft.", True)])
tool("mail_reply_to_email", "Reply to email",
     "Replies to an email in the same thread, optionally to all recipients.",
     MSG + [("body", "string", "Reply text.", True), ("reply_all", "boolean", "Reply to everyone on the thread.")])
tool("mail_forward_email", "Forward email", "Forwards an email, with its attachments, to other people.",
     MSG + [("to", "string[]", "Recipients.", True), ("note", "string", "Text added above the forwarded message.")])
tool("mail_get_email", "Read email", "Returns one email with headers, body and attachment list.", MSG)
tool("mail_search_emails", "Search mailbox",
     "Searches the mailbox with a query over sender, recipients, subject, body and dates.",
     [("query", "string", "Search text, e.g. from:alice invoice.", True)] + PAGING)
tool("mail_list_threads", "List inbox threads",
     "Lists conversation threads in a mailbox folder, newest first.",
     [("folder", "string", "Folder or label, INBOX by default."),
      ("unread_only", "boolean", "Only threads with unread messages.")] + PAGING)
tool("mail_archive_thread", "Archive thread", "Moves a conversation out of the inbox into the archive.",
     [("thread_id", "string", "ID of the thread.", True)])
tool("mail_delete_email", "Delete email", "Moves an email to the trash.", MSG)
tool("mail_mark_read", "Mark as read", "Marks emails as read or unread.",
     [("message_ids", "string[]", "Emails to change.", True), ("read", "boolean", "True for read, false for unread.")])
tool("mail_add_label", "Label email", "Adds a label to an email thread.",
     [("thread_id", "string", "ID of the thread.", True), ("label", "string", "Label name.", True)])
tool("mail_create_filter", "Create mail rule",
     "Creates a rule that acts on incoming mail automatically, e.g. label or archive messages from a sender.",
     [("from", "string", "Sender to match."), ("subject_contains", "string", "Text the subject must contain."),
      ("action", ["label", "archive", "forward", "delete"], "What to do with matching mail.", True)])
tool("mail_set_auto_reply", "Set out-of-office reply",
     "Turns on an automatic vacation reply to incoming email between two dates.",
     [("message", "string", "Reply text.", True), ("start", "string", "First day."), ("end", "string", "Last day.")])

# ---- helpdesk -----------------------------------------------------------------
HD = "the helpdesk"
TID = ("ticket_id", "string", "ID of the support ticket.", True)
crud("helpdesk", HD, "ticket", "support ticket", "tickets",
     [("subject", "string", "Short summary of the customer's problem."),
      ("description", "string", "Full text of the request."),
      ("requester_email", "string", "Customer who asked for help."),
      ("priority", ["low", "normal", "high", "urgent"], "Priority."),
      ("tags", "string[]", "Tags.")],
     verbs="cguls",
     filters=[("status", "string", "new, open, pending, solved or closed."),
              ("assignee_id", "string", "Agent the tickets are assigned to.")],
     searchable="subject, description and requester")
tool("helpdesk_assign_ticket", "Assign ticket", "Assigns a support ticket to an agent or a group.",
     [TID, ("assignee_id", "string", "Agent to assign."), ("group_id", "string", "Group to assign.")])
tool("helpdesk_close_ticket", "Solve ticket", "Marks a support ticket as solved, with an optional closing note.",
     [TID, ("note", "string", "Closing note.")])
tool("helpdesk_reopen_ticket", "Reopen ticket", "Reopens a solved or closed support ticket.", [TID])
tool("helpdesk_add_ticket_reply", "Reply on ticket",
     "Adds a public reply to the customer or an internal note to a support ticket.",
     [TID, ("body", "string", "Text of the reply.", True), ("internal", "boolean", "Internal note visible only to agents.")])
tool("helpdesk_merge_tickets", "Merge tickets", "Merges duplicate support tickets into one.",
     [("target_ticket_id", "string", "Ticket kept.", True), ("source_ticket_ids", "string[]", "Tickets merged away.", True)])
tool("helpdesk_escalate_ticket", "Escalate ticket",
     "Escalates a support ticket to the next support tier and raises its priority.",
     [TID, ("reason", "string", "Why it needs escalation.")])
tool("helpdesk_get_satisfaction", "Get CSAT ratings",
     "Returns customer satisfaction (CSAT) survey ratings and comments for solved tickets.",
     [("since", "string", "Start date.")] + PAGING)
tool("helpdesk_list_macros", "List canned responses", "Lists saved macros (canned responses) agents can apply.", PAGING)
tool("helpdesk_apply_macro", "Apply canned response", "Applies a saved macro to a ticket.",
     [TID, ("macro_id", "string", "Macro to apply.", True)])

# ---- issue tracker --------------------------------------------------------------
TR = "the issue tracker"
IID = ("issue_key", "string", "Issue key, e.g. ENG-42.", True)
crud("tracker", TR, "issue", "issue", "issues",
     [("project_key", "string", "Project the issue belongs to."), ("summary", "string", "One-line summary."),
      ("description", "string", "Details, steps to reproduce."),
      ("type", ["bug", "task", "story", "epic"], "Issue type."),
      ("priority", ["lowest", "low", "medium", "high", "highest"], "Priority.")],
     verbs="cgudls",
     filters=[("project_key", "string", "Only issues of this project."),
              ("status", "string", "Workflow status, e.g. To Do, In Progress, Done.")],
     searchable="summary, description and comments")
tool("tracker_transition_issue", "Change issue status",
     "Moves an issue through its workflow, e.g. from To Do to In Progress or Done.",
     [IID, ("status", "string", "Target status.", True)])
tool("tracker_assign_issue", "Assign issue", "Assigns an issue to a developer.",
     [IID, ("assignee", "string", "User to assign; empty to unassign.", True)])
tool("tracker_add_comment", "Comment on issue", "Adds a comment to an issue.",
     [IID, ("body", "string", "Comment text.", True)])
tool("tracker_link_issues", "Link issues", "Links two issues, e.g. blocks, duplicates or relates to.",
     [("from_key", "string", "First issue.", True), ("to_key", "string", "Second issue.", True),
      ("link_type", ["blocks", "duplicates", "relates"], "Relation.", True)])
tool("tracker_create_sprint", "Create sprint", "Creates a sprint on a board with start and end dates.",
     [("board_id", "string", "Board.", True), ("name", "string", "Sprint name.", True),
      ("start", "string", "Start date."), ("end", "string", "End date.")])
tool("tracker_add_to_sprint", "Add issues to sprint", "Moves issues into a sprint.",
     [("sprint_id", "string", "Sprint.", True), ("issue_keys", "string[]", "Issues to move.", True)])
tool("tracker_log_work", "Log time", "Logs time spent working on an issue.",
     [IID, ("time_spent", "string", "Duration, e.g. 2h 30m.", True), ("comment", "string", "What was done.")])
tool("tracker_list_projects", "List tracker projects", "Lists the projects in the issue tracker.", PAGING)

# ---- billing ------------------------------------------------------------------
BL = "billing"
crud("billing", BL, "customer", "billing customer", "customers",
     [("email", "string", "Billing email."), ("name", "string", "Customer or company name."),
      ("address", "string", "Billing address."), ("tax_id", "string", "VAT or tax ID.")],
     verbs="cgudl", filters=[("email", "string", "Only customers with this email.")])
crud("billing", BL, "invoice", "invoice", "invoices",
     [("customer_id", "string", "Billing customer."), ("line_items", "array", "Items: description, quantity, unit price."),
      ("due_date", "string", "Payment due date."), ("currency", "string", "ISO currency code.")],
     verbs="cgl",
     filters=[("customer_id", "string", "Only this customer's invoices."),
              ("status", "string", "draft, open, paid, void or uncollectible.")])
tool("billing_send_invoice", "Send invoice", "Emails an open invoice to the customer with a link to pay it.",
     [("invoice_id", "string", "ID of the invoice.", True)])
tool("billing_void_invoice", "Void invoice",
     "Voids an open invoice so it can no longer be paid; use when it was issued by mistake.",
     [("invoice_id", "string", "ID of the invoice.", True)])
tool("billing_finalize_invoice", "Finalize invoice", "Finalizes a draft invoice so it can be sent and paid.",
     [("invoice_id", "string", "ID of the invoice.", True)])
tool("billing_create_charge", "Charge card", "Charges a customer's saved card or payment method.",
     [("customer_id", "string", "Billing customer.", True), ("amount", "integer", "Amount in the smallest currency unit.", True),
      ("currency", "string", "ISO currency code.", True), ("description", "string", "Statement description.")])
tool("billing_refund_charge", "Refund payment",
     "Refunds a card payment in full or in part back to the customer's card.",
     [("charge_id", "string", "Payment to refund.", True), ("amount", "integer", "Partial amount; full by default."),
      ("reason", ["duplicate", "fraudulent", "requested_by_customer"], "Reason.")])
tool("billing_list_charges", "List payments", "Lists card payments, with status and amounts.",
     [("customer_id", "string", "Only this customer's payments.")] + PAGING)
tool("billing_create_subscription", "Create subscription", "Subscribes a customer to a recurring price plan.",
     [("customer_id", "string", "Billing customer.", True), ("price_id", "string", "Recurring price.", True),
      ("trial_days", "integer", "Free trial length.")])
tool("billing_update_subscription", "Change subscription plan",
     "Changes a subscription's plan or quantity, prorating the difference (upgrade or downgrade).",
     [("subscription_id", "string", "Subscription.", True), ("price_id", "string", "New price."),
      ("quantity", "integer", "Seats.")])
tool("billing_cancel_subscription", "Cancel subscription",
     "Cancels a customer's subscription now or at the end of the current billing period.",
     [("subscription_id", "string", "Subscription.", True), ("at_period_end", "boolean", "Wait for the period to end.")])
tool("billing_list_subscriptions", "List subscriptions", "Lists subscriptions with their plan and status.",
     [("customer_id", "string", "Only this customer's."), ("status", "string", "active, trialing, past_due, canceled.")] + PAGING)
tool("billing_create_coupon", "Create coupon", "Creates a discount coupon for subscriptions and invoices.",
     [("percent_off", "number", "Percentage discount."), ("amount_off", "integer", "Fixed discount."),
      ("duration", ["once", "repeating", "forever"], "How long it applies.", True)])
tool("billing_create_payment_link", "Create payment link",
     "Creates a shareable checkout link that lets anyone pay a fixed price.",
     [("price_id", "string", "Price to sell.", True), ("quantity", "integer", "Quantity.")])
tool("billing_get_balance", "Get account balance", "Returns the available and pending balance of the payments account.")
tool("billing_list_payouts", "List payouts", "Lists transfers from the payments balance to the bank account.", PAGING)

# ---- accounting -------------------------------------------------------------------
tool("ledger_create_bill", "Enter vendor bill", "Records a bill received from a supplier, to be paid later.",
     [("vendor_id", "string", "Supplier.", True), ("amount", "number", "Total.", True), ("due_date", "string", "Due date.")])
tool("ledger_pay_bill", "Pay vendor bill", "Records payment of a supplier bill from a bank account.",
     [("bill_id", "string", "Bill.", True), ("bank_account_id", "string", "Account paid from.", True)])
tool("ledger_list_bills", "List vendor bills", "Lists bills from suppliers, unpaid first.",
     [("status", "string", "unpaid, paid or overdue.")] + PAGING)
tool("ledger_record_expense", "Record expense", "Records a business expense paid by card or cash in the books.",
     [("amount", "number", "Amount.", True), ("category", "string", "Expense account, e.g. Travel.", True),
      ("date", "string", "Date."), ("receipt_file_id", "string", "Receipt image.")])
tool("ledger_create_journal_entry", "Create journal entry", "Posts a manual double-entry journal entry of debits and credits.",
     [("lines", "array", "Debit and credit lines.", True), ("memo", "string", "Memo.")])
tool("ledger_get_profit_and_loss", "Profit and loss report", "Returns the income statement (revenue, expenses, net income) for a period.",
     [("start", "string", "First day.", True), ("end", "string", "Last day.", True)])
tool("ledger_get_balance_sheet", "Balance sheet", "Returns assets, liabilities and equity as of a date.",
     [("as_of", "string", "Date.", True)])
tool("ledger_reconcile_account", "Reconcile bank account", "Matches bank statement lines with recorded transactions.",
     [("bank_account_id", "string", "Account.", True), ("statement_end", "string", "Statement date.", True)])
tool("ledger_create_vendor", "Add vendor", "Adds a supplier to the accounting books.",
     [("name", "string", "Supplier name.", True), ("email", "string", "Email."), ("tax_id", "string", "Tax ID.")])

# ---- files ------------------------------------------------------------------------
FID = ("file_id", "string", "ID of the file.", True)
tool("drive_upload_file", "Upload file", "Uploads a file to cloud storage into a folder.",
     [("name", "string", "File name.", True), ("content_base64", "string", "File content.", True),
      ("folder_id", "string", "Destination folder.")])
tool("drive_download_file", "Download file", "Downloads a file's content from cloud storage.", [FID])
tool("drive_get_file_info", "Get file metadata", "Returns a file's name, size, type, owner and modified time.", [FID])
tool("drive_list_files", "List folder contents", "Lists the files and folders inside a folder.",
     [("folder_id", "string", "Folder; the root by default.")] + PAGING)
tool("drive_search_files", "Search drive", "Searches files in cloud storage by name and content.",
     [("query", "string", "Search text.", True), ("mime_type", "string", "Only this file type.")] + PAGING)
tool("drive_move_file", "Move file", "Moves a file to another folder.",
     [FID, ("folder_id", "string", "Destination folder.", True)])
tool("drive_copy_file", "Copy file", "Makes a copy of a file.", [FID, ("name", "string", "Name of the copy.")])
tool("drive_rename_file", "Rename file", "Renames a file or folder.", [FID, ("name", "string", "New name.", True)])
tool("drive_delete_file", "Delete file", "Moves a file or folder to the trash.", [FID])
tool("drive_restore_file", "Restore from trash", "Restores a trashed file or folder.", [FID])
tool("drive_share_file", "Share file", "Shares a file or folder with people or makes a link.",
     [FID, ("email", "string", "Person to share with."), ("role", ["viewer", "commenter", "editor"], "Access.", True),
      ("anyone_with_link", "boolean", "Share by link.")])
tool("drive_remove_access", "Remove sharing", "Removes a person's access to a shared file.",
     [FID, ("email", "string", "Person to remove.", True)])
tool("drive_create_folder", "Create folder", "Creates a folder in cloud storage.",
     [("name", "string", "Folder name.", True), ("parent_id", "string", "Parent folder.")])
tool("drive_list_file_versions", "List file versions", "Lists earlier revisions of a file that can be restored.", [FID])

# ---- wiki -------------------------------------------------------------------------
crud("wiki", "the team wiki", "page", "wiki page", "pages",
     [("space_id", "string", "Space the page lives in."), ("title", "string", "Page title."),
      ("content", "string", "Page body in Markdown."), ("parent_page_id", "string", "Parent page.")],
     verbs="cguds", searchable="title and content")
tool("wiki_append_to_page", "Append to page", "Appends content blocks to the end of a wiki page.",
     [("page_id", "string", "Page.", True), ("content", "string", "Markdown to add.", True)])
tool("wiki_add_page_comment", "Comment on page", "Adds a comment to a wiki page.",
     [("page_id", "string", "Page.", True), ("body", "string", "Comment.", True)])
tool("wiki_move_page", "Move page", "Moves a wiki page under another parent or space.",
     [("page_id", "string", "Page.", True), ("new_parent_id", "string", "New parent.", True)])
tool("wiki_export_page", "Export page", "Exports a wiki page as PDF, Word or Markdown.",
     [("page_id", "string", "Page.", True), ("format", ["pdf", "docx", "markdown"], "Format.", True)])
tool("wiki_query_database", "Query database", "Queries rows of a wiki database (table) with filters and sorts.",
     [("database_id", "string", "Database.", True), ("filter", "object", "Filter on properties.")])
tool("wiki_add_database_row", "Add database row", "Adds a row to a wiki database (table).",
     [("database_id", "string", "Database.", True), ("properties", "object", "Column values.", True)])
tool("wiki_list_spaces", "List spaces", "Lists the spaces of the wiki.", PAGING)

# ---- chat -------------------------------------------------------------------------
CH = ("channel", "string", "Channel name or ID.", True)
TS = ("message_ts", "string", "Timestamp ID of the chat message.", True)
tool("chat_post_message", "Post message", "Posts a message to a chat channel.",
     [CH, ("text", "string", "Message text (markdown).", True)])
tool("chat_send_direct_message", "Send DM", "Sends a private direct message to one person in chat.",
     [("user", "string", "Recipient.", True), ("text", "string", "Message text.", True)])
tool("chat_reply_in_thread", "Reply in thread", "Replies in the thread of a chat message.",
     [CH, TS, ("text", "string", "Reply.", True)])
tool("chat_update_message", "Edit message", "Edits the text of a message the bot posted.", [CH, TS, ("text", "string", "New text.", True)])
tool("chat_delete_message", "Delete message", "Deletes a chat message.", [CH, TS])
tool("chat_add_reaction", "Add reaction", "Adds an emoji reaction to a chat message.",
     [CH, TS, ("emoji", "string", "Emoji name, e.g. thumbsup.", True)])
tool("chat_pin_message", "Pin message", "Pins a message to the top of a channel.", [CH, TS])
tool("chat_schedule_message", "Schedule message", "Schedules a chat message to be posted later.",
     [CH, ("text", "string", "Message.", True), ("post_at", "string", "When to post.", True)])
tool("chat_search_messages", "Search chat", "Searches chat messages across channels.",
     [("query", "string", "Search text.", True)] + PAGING)
tool("chat_list_channels", "List channels", "Lists public and private channels the bot can see.", PAGING)
tool("chat_create_channel", "Create channel", "Creates a chat channel.",
     [("name", "string", "Channel name.", True), ("private", "boolean", "Private channel.")])
tool("chat_archive_channel", "Archive channel", "Archives a chat channel so nobody can post in it.", [CH])
tool("chat_invite_to_channel", "Invite to channel", "Adds people to a chat channel.",
     [CH, ("users", "string[]", "People to add.", True)])
tool("chat_remove_from_channel", "Remove from channel", "Removes a person from a chat channel.",
     [CH, ("user", "string", "Person to remove.", True)])
tool("chat_set_channel_topic", "Set channel topic", "Sets the topic line of a chat channel.",
     [CH, ("topic", "string", "Topic.", True)])
tool("chat_get_presence", "Get presence", "Returns whether a person is active or away in chat.",
     [("user", "string", "Person.", True)])
tool("chat_set_status", "Set status", "Sets the user's chat status text and emoji, e.g. on vacation.",
     [("text", "string", "Status text.", True), ("emoji", "string", "Emoji."), ("expires_at", "string", "When it clears.")])

# ---- HR, recruiting, payroll -------------------------------------------------------
EID = ("employee_id", "string", "ID of the employee.", True)
crud("hr", "the HR system", "employee", "employee", "employees",
     [("first_name", "string", "Given name."), ("last_name", "string", "Family name."),
      ("work_email", "string", "Work email."), ("department", "string", "Department."),
      ("manager_id", "string", "Manager."), ("start_date", "string", "First day of work."),
      ("job_title", "string", "Job title.")],
     verbs="cgul", filters=[("department", "string", "Only this department."),
                            ("manager_id", "string", "Only direct reports of this manager.")])
tool("hr_terminate_employee", "Offboard employee", "Records an employee's departure and schedules account removal.",
     [EID, ("last_day", "string", "Last working day.", True), ("reason", "string", "Reason.")])
tool("hr_request_time_off", "Request time off", "Submits a vacation, sick or parental leave request.",
     [EID, ("type", ["vacation", "sick", "parental", "unpaid"], "Leave type.", True),
      ("start", "string", "First day.", True), ("end", "string", "Last day.", True)])
tool("hr_approve_time_off", "Approve time off", "Approves a pending leave request.",
     [("request_id", "string", "Leave request.", True)])
tool("hr_deny_time_off", "Deny time off", "Declines a pending leave request with a reason.",
     [("request_id", "string", "Leave request.", True), ("reason", "string", "Reason.")])
tool("hr_list_time_off_requests", "List leave requests", "Lists leave requests, pending first.",
     [("status", "string", "pending, approved or denied.")] + PAGING)
tool("hr_get_time_off_balance", "Get PTO balance", "Returns how many vacation and sick days an employee has left.", [EID])
tool("hr_get_org_chart", "Get org chart", "Returns the reporting lines under a manager.",
     [("root_employee_id", "string", "Top of the chart.")])
tool("hr_list_departments", "List departments", "Lists departments and their heads.")
tool("recruit_create_job", "Open job posting", "Creates a job opening and publishes it on the careers page.",
     [("title", "string", "Job title.", True), ("department", "string", "Department."), ("location", "string", "Location.")])
tool("recruit_list_candidates", "List candidates", "Lists job applicants, filtered by job or stage.",
     [("job_id", "string", "Job."), ("stage", "string", "Hiring stage.")] + PAGING)
tool("recruit_move_candidate", "Move candidate stage", "Moves an applicant to another hiring stage, e.g. onsite or offer.",
     [("candidate_id", "string", "Candidate.", True), ("stage", "string", "Stage.", True)])
tool("recruit_schedule_interview", "Schedule interview", "Schedules an interview with a candidate and the interviewers.",
     [("candidate_id", "string", "Candidate.", True), ("interviewers", "string[]", "Interviewers.", True),
      ("start", "string", "Start.", True)])
tool("recruit_submit_scorecard", "Submit interview feedback", "Submits an interviewer's scorecard and hire recommendation.",
     [("interview_id", "string", "Interview.", True), ("recommendation", ["strong_no", "no", "yes", "strong_yes"], "Verdict.", True),
      ("notes", "string", "Notes.")])
tool("payroll_run_payroll", "Run payroll", "Calculates and submits pay for a pay period.",
     [("pay_period_end", "string", "Period end.", True)])
tool("payroll_get_payslip", "Get payslip", "Returns an employee's pay stub: gross, taxes, deductions, net pay.",
     [EID, ("pay_date", "string", "Pay date.", True)])
tool("payroll_update_bank_details", "Update direct deposit", "Changes the bank account an employee's salary is paid into.",
     [EID, ("iban", "string", "Account number.", True)])
tool("payroll_get_tax_forms", "Get tax forms", "Returns year-end tax forms (W-2, 1099) for an employee.",
     [EID, ("year", "integer", "Tax year.", True)])

# ---- analytics ------------------------------------------------------------------------
tool("analytics_run_sql", "Run SQL query", "Runs a read-only SQL query against the data warehouse and returns rows.",
     [("sql", "string", "SELECT statement.", True), ("max_rows", "integer", "Row limit.")])
tool("analytics_list_dashboards", "List dashboards", "Lists BI dashboards.", PAGING)
tool("analytics_get_dashboard", "Get dashboard", "Returns a dashboard's charts with their current data.",
     [("dashboard_id", "string", "Dashboard.", True)])
tool("analytics_create_dashboard", "Create dashboard", "Creates a BI dashboard from saved charts.",
     [("name", "string", "Name.", True), ("chart_ids", "string[]", "Charts.")])
tool("analytics_schedule_report", "Schedule report email", "Emails a dashboard as a report on a schedule.",
     [("dashboard_id", "string", "Dashboard.", True), ("recipients", "string[]", "Recipients.", True),
      ("cron", "string", "Schedule.", True)])
tool("analytics_track_event", "Track product event", "Records a product analytics event for a user, e.g. signed_up.",
     [("user_id", "string", "User.", True), ("event", "string", "Event name.", True), ("properties", "object", "Event properties.")])
tool("analytics_get_funnel", "Funnel conversion", "Returns step-by-step conversion rates through a funnel of product events.",
     [("steps", "string[]", "Event names in order.", True), ("start", "string", "From."), ("end", "string", "To.")])
tool("analytics_get_retention", "Retention cohorts", "Returns weekly retention cohorts of users.",
     [("start", "string", "From."), ("end", "string", "To.")])
tool("analytics_get_metric", "Get metric timeseries", "Returns a business metric (e.g. MRR, signups, active users) over time.",
     [("metric", "string", "Metric name.", True), ("interval", ["day", "week", "month"], "Bucket.")])
tool("analytics_get_web_traffic", "Website traffic", "Returns website visitors, page views, bounce rate and top pages.",
     [("site_id", "string", "Site.", True), ("start", "string", "From."), ("end", "string", "To.")])
tool("analytics_export_csv", "Export chart CSV", "Exports a chart's data as a CSV file.",
     [("chart_id", "string", "Chart.", True)])

# ---- devops ---------------------------------------------------------------------------
SV = ("service", "string", "Service name.", True)
tool("deploy_create_deployment", "Deploy", "Deploys a git ref of a service to an environment.",
     [SV, ("ref", "string", "Commit, tag or branch.", True), ("environment", ["staging", "production"], "Target.", True)])
tool("deploy_list_deployments", "List deployments", "Lists recent deployments of a service with status.", [SV] + PAGING)
tool("deploy_get_deployment", "Deployment status", "Returns the status and log of one deployment.",
     [("deployment_id", "string", "Deployment.", True)])
tool("deploy_rollback", "Roll back deployment", "Rolls a service back to its previous successful deployment.",
     [SV, ("environment", "string", "Environment.", True)])
tool("deploy_restart_service", "Restart service", "Restarts all running instances of a service.", [SV])
tool("deploy_scale_service", "Scale service", "Changes the number of running instances of a service.",
     [SV, ("replicas", "integer", "Instance count.", True)])
tool("deploy_get_logs", "Get service logs", "Returns recent log lines of a service, filterable by level and text.",
     [SV, ("since", "string", "Start time."), ("level", "string", "Minimum level."), ("contains", "string", "Text filter.")])
tool("deploy_list_services", "List services", "Lists the services and their running versions.", PAGING)
tool("deploy_set_env_var", "Set environment variable", "Sets a configuration environment variable of a service.",
     [SV, ("key", "string", "Variable.", True), ("value", "string", "Value.", True)])
tool("deploy_list_env_vars", "List environment variables", "Lists a service's environment variables (values masked).", [SV])
tool("ci_trigger_pipeline", "Run pipeline", "Starts a CI pipeline run on a branch.",
     [("repo", "string", "Repository.", True), ("branch", "string", "Branch.", True)])
tool("ci_get_pipeline_run", "Get pipeline run", "Returns a CI run's jobs and their status.",
     [("run_id", "string", "Run.", True)])
tool("ci_cancel_pipeline_run", "Cancel pipeline run", "Cancels a CI run in progress.", [("run_id", "string", "Run.", True)])
tool("ci_list_pipeline_runs", "List pipeline runs", "Lists recent CI runs of a repository, failed ones marked.",
     [("repo", "string", "Repository.", True), ("branch", "string", "Branch.")] + PAGING)
tool("ci_retry_job", "Retry failed job", "Re-runs a failed job of a CI run.", [("job_id", "string", "Job.", True)])
tool("dns_create_record", "Create DNS record", "Adds a DNS record (A, CNAME, TXT, MX) to a zone.",
     [("zone", "string", "Domain.", True), ("type", ["A", "AAAA", "CNAME", "TXT", "MX"], "Type.", True),
      ("name", "string", "Host name.", True), ("value", "string", "Value.", True)])
tool("dns_delete_record", "Delete DNS record", "Removes a DNS record from a zone.",
     [("zone", "string", "Domain.", True), ("record_id", "string", "Record.", True)])
tool("dns_list_records", "List DNS records", "Lists the DNS records of a domain.", [("zone", "string", "Domain.", True)])

# ---- on-call and monitoring -------------------------------------------------------------
tool("oncall_list_alerts", "List alerts", "Lists firing monitoring alerts.", [("service", "string", "Service.")] + PAGING)
tool("oncall_acknowledge_alert", "Acknowledge alert", "Acknowledges an alert so escalation stops paging.",
     [("alert_id", "string", "Alert.", True)])
tool("oncall_create_incident", "Declare incident", "Opens an incident, pages the on-call responder and starts a timeline.",
     [("title", "string", "What is broken.", True), ("severity", ["sev1", "sev2", "sev3"], "Severity.", True),
      ("service", "string", "Affected service.")])
tool("oncall_resolve_incident", "Resolve incident", "Marks an incident resolved.",
     [("incident_id", "string", "Incident.", True), ("resolution", "string", "What fixed it.")])
tool("oncall_list_incidents", "List incidents", "Lists open and recent incidents.", [("status", "string", "Status.")] + PAGING)
tool("oncall_get_on_call", "Who is on call", "Returns who is on call now for a schedule or service.",
     [("schedule_id", "string", "Schedule.")])
tool("oncall_create_monitor", "Create monitor", "Creates a monitor that alerts when a metric crosses a threshold.",
     [("query", "string", "Metric query.", True), ("threshold", "number", "Threshold.", True),
      ("notify", "string[]", "Who to notify.")])
tool("oncall_mute_monitor", "Mute monitor", "Silences a monitor's alerts for a while, e.g. during maintenance.",
     [("monitor_id", "string", "Monitor.", True), ("until", "string", "End of the silence.")])
tool("oncall_post_status_update", "Update status page", "Posts an update on the public status page.",
     [("component", "string", "Component.", True), ("status", ["operational", "degraded", "outage"], "Status.", True),
      ("message", "string", "Message.", True)])

# ---- code hosting --------------------------------------------------------------------
RP = ("repo", "string", "Repository, owner/name.", True)
PR = ("number", "integer", "Pull request number.", True)
tool("git_create_pull_request", "Open pull request", "Opens a pull request from a branch.",
     [RP, ("head", "string", "Branch with the changes.", True), ("base", "string", "Branch to merge into.", True),
      ("title", "string", "Title.", True), ("body", "string", "Description.")])
tool("git_merge_pull_request", "Merge pull request", "Merges a pull request.",
     [RP, PR, ("method", ["merge", "squash", "rebase"], "Merge method.")])
tool("git_list_pull_requests", "List pull requests", "Lists open pull requests of a repository.",
     [RP, ("state", "string", "open, closed or all.")] + PAGING)
tool("git_get_pull_request", "Get pull request", "Returns a pull request with its diff stats, checks and reviews.", [RP, PR])
tool("git_request_review", "Request review", "Requests a code review of a pull request from people.",
     [RP, PR, ("reviewers", "string[]", "Reviewers.", True)])
tool("git_comment_on_pull_request", "Comment on pull request", "Adds a review comment to a pull request.",
     [RP, PR, ("body", "string", "Comment.", True)])
tool("git_create_branch", "Create branch", "Creates a git branch from a commit or branch.",
     [RP, ("name", "string", "Branch.", True), ("from", "string", "Start point.")])
tool("git_delete_branch", "Delete branch", "Deletes a git branch.", [RP, ("name", "string", "Branch.", True)])
tool("git_list_commits", "List commits", "Lists commits on a branch with authors and messages.",
     [RP, ("branch", "string", "Branch.")] + PAGING)
tool("git_get_file", "Read repository file", "Returns the contents of a file in a repository at a ref.",
     [RP, ("path", "string", "File path.", True), ("ref", "string", "Ref.")])
tool("git_create_release", "Create release", "Tags a version and publishes release notes.",
     [RP, ("tag", "string", "Tag.", True), ("notes", "string", "Release notes.")])
tool("git_search_code", "Search code", "Searches source code across repositories.",
     [("query", "string", "Search text.", True)] + PAGING)
tool("git_create_repository", "Create repository", "Creates a git repository.",
     [("name", "string", "Name.", True), ("private", "boolean", "Private.")])

# ---- shop, shipping ----------------------------------------------------------------------
SHOP = "the online store"
OID = ("order_id", "string", "ID of the order.", True)
crud("shop", SHOP, "product", "product", "products",
     [("title", "string", "Product title."), ("description", "string", "Product description."),
      ("price", "number", "Price."), ("sku", "string", "Stock keeping unit."),
      ("images", "string[]", "Image URLs.")],
     verbs="cgudls", filters=[("collection_id", "string", "Only this collection.")],
     searchable="title, SKU and description")
tool("shop_update_inventory", "Adjust stock", "Sets or adjusts the stock quantity of a product variant at a location.",
     [("sku", "string", "SKU.", True), ("quantity", "integer", "New quantity.", True), ("location_id", "string", "Warehouse.")])
tool("shop_get_inventory", "Check stock", "Returns how many units of a product are in stock at each location.",
     [("sku", "string", "SKU.", True)])
tool("shop_list_orders", "List orders", "Lists store orders, newest first.",
     [("status", "string", "open, closed, cancelled."), ("customer_email", "string", "Buyer.")] + PAGING)
tool("shop_get_order", "Get order", "Returns an order with line items, payment and fulfillment status.", [OID])
tool("shop_cancel_order", "Cancel order", "Cancels an unfulfilled order and optionally restocks the items.",
     [OID, ("restock", "boolean", "Put items back in stock."), ("reason", "string", "Reason.")])
tool("shop_refund_order", "Refund order", "Refunds all or some line items of an order to the buyer.",
     [OID, ("line_item_ids", "string[]", "Items to refund; all by default."), ("note", "string", "Note.")])
tool("shop_fulfill_order", "Fulfill order", "Marks an order's items as shipped with a tracking number.",
     [OID, ("tracking_number", "string", "Tracking number."), ("carrier", "string", "Carrier.")])
tool("shop_update_shipping_address", "Change order address", "Changes the delivery address of an unshipped order.",
     [OID, ("address", "object", "New address.", True)])
tool("shop_create_discount_code", "Create discount code", "Creates a promo code customers enter at checkout.",
     [("code", "string", "Code.", True), ("percent_off", "number", "Percent off.")])
tool("shop_list_customers", "List shoppers", "Lists store customers with their order count and total spent.",
     [("query", "string", "Name or email.")] + PAGING)
tool("ship_create_label", "Buy shipping label", "Buys a postage label for a parcel and returns a PDF.",
     [("from_address", "object", "Sender.", True), ("to_address", "object", "Recipient.", True),
      ("weight_grams", "integer", "Weight.", True), ("service", "string", "Carrier service.")])
tool("ship_get_rates", "Compare shipping rates", "Returns prices and delivery times of carriers for a parcel.",
     [("to_address", "object", "Recipient.", True), ("weight_grams", "integer", "Weight.", True)])
tool("ship_track_package", "Track package", "Returns the tracking history and delivery estimate of a parcel.",
     [("tracking_number", "string", "Tracking number.", True), ("carrier", "string", "Carrier.")])
tool("ship_create_return_label", "Create return label", "Creates a prepaid label for a customer to send goods back.",
     [OID])
tool("ship_schedule_pickup", "Schedule courier pickup", "Books a carrier to collect parcels.",
     [("date", "string", "Day.", True), ("address", "object", "Where.", True)])

# ---- marketing, social, messaging -----------------------------------------------------------
tool("campaign_create_campaign", "Create email campaign", "Creates a newsletter or marketing email campaign for an audience.",
     [("audience_id", "string", "Audience.", True), ("subject", "string", "Subject.", True), ("html", "string", "Content.", True)])
tool("campaign_send_campaign", "Send campaign", "Sends a marketing campaign now.", [("campaign_id", "string", "Campaign.", True)])
tool("campaign_schedule_campaign", "Schedule campaign", "Schedules a marketing campaign for later.",
     [("campaign_id", "string", "Campaign.", True), ("send_at", "string", "When.", True)])
tool("campaign_get_report", "Campaign report", "Returns opens, clicks, bounces and unsubscribes of a sent campaign.",
     [("campaign_id", "string", "Campaign.", True)])
tool("campaign_add_subscriber", "Add subscriber", "Adds an email address to a mailing list audience.",
     [("audience_id", "string", "Audience.", True), ("email", "string", "Email.", True), ("tags", "string[]", "Tags.")])
tool("campaign_unsubscribe", "Unsubscribe", "Unsubscribes an email address from a mailing list.",
     [("audience_id", "string", "Audience.", True), ("email", "string", "Email.", True)])
tool("campaign_create_segment", "Create segment", "Creates a saved segment of an audience from conditions.",
     [("audience_id", "string", "Audience.", True), ("conditions", "array", "Conditions.", True)])
tool("social_publish_post", "Publish social post", "Publishes a post to connected social media accounts now.",
     [("text", "string", "Post text.", True), ("accounts", "string[]", "Accounts."), ("media", "string[]", "Images.")])
tool("social_schedule_post", "Schedule social post", "Queues a social media post for a later time.",
     [("text", "string", "Post text.", True), ("publish_at", "string", "When.", True)])
tool("social_get_post_stats", "Social post analytics", "Returns likes, shares, comments and reach of a post.",
     [("post_id", "string", "Post.", True)])
tool("social_reply_to_comment", "Reply to social comment", "Replies to a comment on one of the brand's posts.",
     [("comment_id", "string", "Comment.", True), ("text", "string", "Reply.", True)])
tool("sms_send_sms", "Send text message", "Sends an SMS to a phone number.",
     [("to", "string", "Phone number, E.164.", True), ("body", "string", "Text.", True)])
tool("sms_list_messages", "List SMS", "Lists sent and received SMS messages.", [("to", "string", "Number.")] + PAGING)
tool("sms_make_call", "Place phone call", "Places an outbound phone call that plays a message or connects an agent.",
     [("to", "string", "Phone number.", True), ("say", "string", "Text to speak.")])
tool("sms_get_call_recording", "Get call recording", "Returns the recording and transcript of a phone call.",
     [("call_id", "string", "Call.", True)])
tool("sms_buy_number", "Buy phone number", "Buys a phone number in a country or area code.",
     [("country", "string", "Country.", True), ("area_code", "string", "Area code.")])

# ---- tasks, forms, meetings, e-signature ------------------------------------------------------
crud("tasks", "the project board", "task", "task", "tasks",
     [("project_id", "string", "Project."), ("name", "string", "What needs doing."),
      ("assignee", "string", "Person responsible."), ("due_date", "string", "Due date."),
      ("notes", "string", "Details.")],
     verbs="cudl", filters=[("project_id", "string", "Project."), ("assignee", "string", "Person."),
                            ("completed", "boolean", "Completed or not.")])
tool("tasks_complete_task", "Complete task", "Marks a to-do task as done.", [("task_id", "string", "Task.", True)])
tool("tasks_add_subtask", "Add subtask", "Adds a subtask under a task.",
     [("task_id", "string", "Parent task.", True), ("name", "string", "Subtask.", True)])
tool("tasks_create_project", "Create project", "Creates a project board with sections.",
     [("name", "string", "Name.", True), ("team", "string", "Team.")])
tool("forms_create_form", "Create form", "Creates an online form or survey with questions.",
     [("title", "string", "Title.", True), ("questions", "array", "Questions.", True)])
tool("forms_list_responses", "List form responses", "Lists the submitted answers to a form or survey.",
     [("form_id", "string", "Form.", True)] + PAGING)
tool("forms_close_form", "Close form", "Stops a form from accepting responses.", [("form_id", "string", "Form.", True)])
tool("video_create_meeting", "Create video meeting", "Creates a video conference link with a meeting ID and passcode.",
     [("topic", "string", "Topic.", True), ("start", "string", "Start."), ("duration_minutes", "integer", "Length.")])
tool("video_list_meetings", "List video meetings", "Lists scheduled video meetings of the user.", PAGING)
tool("video_get_recording", "Get meeting recording", "Returns the cloud recording files of a past video meeting.",
     [("meeting_id", "string", "Meeting.", True)])
tool("video_get_transcript", "Get meeting transcript", "Returns the transcript of what was said in a recorded video meeting.",
     [("meeting_id", "string", "Meeting.", True)])
tool("esign_send_for_signature", "Send for signature", "Sends a document to people to sign electronically.",
     [("file_id", "string", "Document.", True), ("signers", "string[]", "Signer emails.", True), ("message", "string", "Message.")])
tool("esign_get_status", "Signature status", "Returns who has signed an envelope and who has not.",
     [("envelope_id", "string", "Envelope.", True)])
tool("esign_void_envelope", "Void envelope", "Voids an envelope that is out for signature.",
     [("envelope_id", "string", "Envelope.", True), ("reason", "string", "Reason.", True)])
tool("esign_download_signed", "Download signed document", "Downloads the completed, signed PDF and its certificate.",
     [("envelope_id", "string", "Envelope.", True)])

# ---- identity, database, travel, utilities ------------------------------------------------------
UID = ("user_id", "string", "Directory user.", True)
tool("idp_create_user", "Create user account", "Creates a directory user account with SSO access.",
     [("email", "string", "Email.", True), ("first_name", "string", "Name."), ("last_name", "string", "Surname.")])
tool("idp_deactivate_user", "Deactivate user", "Suspends a user's account and ends their sessions.", [UID])
tool("idp_reset_password", "Reset password", "Sends a user a password reset link.", [UID])
tool("idp_reset_mfa", "Reset MFA", "Removes a user's enrolled two-factor authentication devices.", [UID])
tool("idp_add_to_group", "Add user to group", "Adds a user to a directory group.", [UID, ("group_id", "string", "Group.", True)])
tool("idp_list_users", "List directory users", "Lists user accounts in the directory.",
     [("status", "string", "active or suspended.")] + PAGING)
tool("idp_assign_app", "Grant app access", "Assigns an application to a user so they can sign in to it.",
     [UID, ("app_id", "string", "Application.", True)])
tool("db_create_backup", "Back up database", "Takes a snapshot backup of a database.", [("database", "string", "Database.", True)])
tool("db_restore_backup", "Restore database", "Restores a database from a backup snapshot.",
     [("database", "string", "Database.", True), ("backup_id", "string", "Backup.", True)])
tool("travel_search_flights", "Search flights", "Searches flights between two airports on a date.",
     [("origin", "string", "Origin airport.", True), ("destination", "string", "Destination airport.", True),
      ("date", "string", "Departure date.", True)])
tool("travel_book_hotel", "Book hotel", "Books a hotel room for given nights.",
     [("hotel_id", "string", "Hotel.", True), ("check_in", "string", "Check-in.", True), ("check_out", "string", "Check-out.", True)])
tool("expense_submit_report", "Submit expense report", "Submits an employee's expense report with receipts for approval.",
     [("items", "array", "Expense items with receipts.", True)])
tool("expense_approve_report", "Approve expense report", "Approves an employee's submitted expense report for reimbursement.",
     [("report_id", "string", "Report.", True)])
tool("web_search", "Web search", "Searches the public web and returns result titles, links and snippets.",
     [("query", "string", "Search text.", True)])
tool("web_fetch_page", "Fetch web page", "Downloads a web page and returns its readable text.", [("url", "string", "URL.", True)])
tool("util_translate_text", "Translate text", "Translates text into another language.",
     [("text", "string", "Text.", True), ("target_language", "string", "Language code.", True)])
tool("util_get_weather", "Weather forecast", "Returns the weather forecast for a place.",
     [("location", "string", "City or coordinates.", True), ("days", "integer", "Days ahead.")])
tool("util_convert_currency", "Convert currency", "Converts an amount between currencies at today's exchange rate.",
     [("amount", "number", "Amount.", True), ("from", "string", "Currency.", True), ("to", "string", "Currency.", True)])
tool("util_geocode", "Geocode address", "Turns a street address into latitude and longitude.",
     [("address", "string", "Address.", True)])

# Dev queries: the ranking may be tuned against these.
QUERIES = [
    ("find the phone number of a customer contact", "crm_search_contacts"),
    ("cancel tomorrow's meeting with Dana", "calendar_cancel_event"),
    ("refund an order", "shop_refund_order"),
    ("give a customer their money back for a card payment", "billing_refund_charge"),
    ("when are Priya and Tom both free for an hour next week", "calendar_find_free_time"),
    ("decline the invite for Friday's planning session", "calendar_respond_to_event"),
    ("put a 30 minute sync on my calendar with the design team", "calendar_create_event"),
    ("write back to the email from the landlord", "mail_reply_to_email"),
    ("turn on my out of office while I'm on holiday", "mail_set_auto_reply"),
    ("find emails from Alice about the Q3 invoice", "mail_search_emails"),
    ("open a support ticket for the customer whose login is broken", "helpdesk_create_ticket"),
    ("hand this support ticket over to Maria", "helpdesk_assign_ticket"),
    ("mark the customer's support request as solved", "helpdesk_close_ticket"),
    ("file a bug about the checkout page crashing", "tracker_create_issue"),
    ("move ENG-42 to in progress", "tracker_transition_issue"),
    ("record 3 hours spent on ENG-7", "tracker_log_work"),
    ("email the invoice to the client so they can pay", "billing_send_invoice"),
    ("the invoice was sent by mistake, make it unpayable", "billing_void_invoice"),
    ("downgrade the customer to the basic plan", "billing_update_subscription"),
    ("stop the customer's monthly subscription at the end of the billing period", "billing_cancel_subscription"),
    ("how much money did we make last quarter after expenses", "ledger_get_profit_and_loss"),
    ("pay the supplier's bill from the business checking account", "ledger_pay_bill"),
    ("give Bob edit access to the budget spreadsheet", "drive_share_file"),
    ("get back the document I deleted yesterday", "drive_restore_file"),
    ("make a new folder for the 2027 contracts", "drive_create_folder"),
    ("add meeting notes at the bottom of the onboarding wiki page", "wiki_append_to_page"),
    ("save the wiki page as a PDF", "wiki_export_page"),
    ("tell the #releases channel the deploy is done", "chat_post_message"),
    ("send Sam a private message on Slack", "chat_send_direct_message"),
    ("react with a thumbs up to that message", "chat_add_reaction"),
    ("how many vacation days does Lee have left", "hr_get_time_off_balance"),
    ("approve Jordan's leave request", "hr_approve_time_off"),
    ("book Ana for a sick day on Monday", "hr_request_time_off"),
    ("move the applicant to the offer stage", "recruit_move_candidate"),
    ("show me Maria's pay stub for March", "payroll_get_payslip"),
    ("how many people visited our website last week", "analytics_get_web_traffic"),
    ("what percentage of signups go on to activate and pay", "analytics_get_funnel"),
    ("ship commit abc123 of the api to production", "deploy_create_deployment"),
    ("the last release broke checkout, go back to the previous version", "deploy_rollback"),
    ("show the error logs of the payments service", "deploy_get_logs"),
    ("add more instances of the web service to handle traffic", "deploy_scale_service"),
    ("rerun the failed CI job", "ci_retry_job"),
    ("point shop.example.com at our load balancer", "dns_create_record"),
    ("who is on call right now", "oncall_get_on_call"),
    ("silence the disk alert during maintenance tonight", "oncall_mute_monitor"),
    ("ask Kim to review my pull request", "git_request_review"),
    ("is the blue hoodie in stock", "shop_get_inventory"),
    ("the buyer moved, change where order 1042 is delivered", "shop_update_shipping_address"),
    ("where is my parcel", "ship_track_package"),
    ("let the customer send the shoes back for free", "ship_create_return_label"),
    ("text the driver that we're running late", "sms_send_sms"),
    ("get the transcript of yesterday's Zoom call", "video_get_transcript"),
    ("has the contract been signed by everyone", "esign_get_status"),
    ("lock out a former employee's account", "idp_deactivate_user"),
    ("the user lost their phone and can't do two-factor", "idp_reset_mfa"),
    ("convert 250 euros to dollars", "util_convert_currency"),
    ("will it rain in Lisbon this weekend", "util_get_weather"),
    ("turn this lead into a customer account", "crm_convert_lead"),
    ("these two contact records are the same person", "crm_merge_contacts"),
    ("how many opens and clicks did the newsletter get", "campaign_get_report"),
]

# Held-out queries: written as an agent phrases a task, after the ranking
# they evaluate was built and before any tuning against them, paraphrasing
# rather than quoting descriptions. Tune on QUERIES; these only measure.
HELDOUT = [
    ("add Jane Doe from Acme to our CRM", "crm_create_contact"),
    ("bump the Globex opportunity to the negotiation stage", "crm_move_deal_stage"),
    ("note that I called the prospect this morning", "crm_log_activity"),
    ("push my 3pm with Carlos to Thursday", "calendar_update_event"),
    ("what's on my calendar tomorrow", "calendar_list_events"),
    ("let my assistant see my work calendar", "calendar_share_calendar"),
    ("move the customer's haircut appointment to next Tuesday", "booking_reschedule_booking"),
    ("pass this email along to the legal team", "mail_forward_email"),
    ("get rid of everything in my inbox from the old newsletter automatically", "mail_create_filter"),
    ("draft a reply to the vendor but don't send it yet", "mail_create_draft"),
    ("the customer says the issue is back, reopen their ticket", "helpdesk_reopen_ticket"),
    ("this complaint is urgent, bump it up to tier 2", "helpdesk_escalate_ticket"),
    ("how happy were customers with our support last month", "helpdesk_get_satisfaction"),
    ("give the login bug to Priya to fix", "tracker_assign_issue"),
    ("mark ENG-12 as blocking ENG-15", "tracker_link_issues"),
    ("start a new two-week sprint for the platform board", "tracker_create_sprint"),
    ("charge the customer's card on file for $40", "billing_create_charge"),
    ("give new subscribers 20% off their first month", "billing_create_coupon"),
    ("how much cash is sitting in our payments account", "billing_get_balance"),
    ("log the team lunch I paid for with the company card", "ledger_record_expense"),
    ("show our assets and liabilities at year end", "ledger_get_balance_sheet"),
    ("match last month's bank transactions against the books", "ledger_reconcile_account"),
    ("put this PDF into the Contracts folder in the cloud", "drive_upload_file"),
    ("stop sharing the budget sheet with the contractor", "drive_remove_access"),
    ("bring back last week's version of the proposal doc", "drive_list_file_versions"),
    ("look up our vacation policy in the wiki", "wiki_search_pages"),
    ("stick the announcement to the top of #general", "chat_pin_message"),
    ("post the weekly reminder in the channel on Monday at 9", "chat_schedule_message"),
    ("add the new hires to the onboarding channel", "chat_invite_to_channel"),
    ("is Omar online right now", "chat_get_presence"),
    ("let go of a staff member effective Friday", "hr_terminate_employee"),
    ("who reports to the VP of engineering", "hr_get_org_chart"),
    ("reject Sam's PTO request, we're short staffed that week", "hr_deny_time_off"),
    ("set up an onsite interview with the backend applicant", "recruit_schedule_interview"),
    ("pay everyone for this month", "payroll_run_payroll"),
    ("an employee changed banks and needs salary sent to the new account", "payroll_update_bank_details"),
    ("how many users are still active after four weeks", "analytics_get_retention"),
    ("what is our monthly recurring revenue trend", "analytics_get_metric"),
    ("kick off a build on the main branch", "ci_trigger_pipeline"),
    ("turn it off and on again: the checkout service is stuck", "deploy_restart_service"),
    ("change the DATABASE_URL config of the api service", "deploy_set_env_var"),
    ("the site is down, declare an incident and page someone", "oncall_create_incident"),
    ("stop the pager going off for the cpu alert, I'm on it", "oncall_acknowledge_alert"),
    ("merge PR 381", "git_merge_pull_request"),
    ("cut a v2.3.0 release with notes", "git_create_release"),
    ("we got 50 more blue hoodies into the warehouse", "shop_update_inventory"),
    ("the customer changed their mind, call off order 2211 before it ships", "shop_cancel_order"),
    ("how much would it cost to send a 2 kg box to Berlin", "ship_get_rates"),
    ("have the courier come get our packages tomorrow", "ship_schedule_pickup"),
    ("take this person off our mailing list", "campaign_unsubscribe"),
    ("tweet about our launch right now", "social_publish_post"),
    ("ring the customer and play them a reminder", "sms_make_call"),
    ("tick off the 'write docs' todo", "tasks_complete_task"),
    ("collect feedback with a short questionnaire", "forms_create_form"),
    ("send the NDA to the new contractor for signing", "esign_send_for_signature"),
    ("she forgot her password, send her a link to set a new one", "idp_reset_password"),
    ("give the new designer access to Figma", "idp_assign_app"),
    ("snapshot the production database before the migration", "db_create_backup"),
    ("find me a flight from Boston to Denver on June 3", "travel_search_flights"),
    ("what does 'Feierabend' mean in English", "util_translate_text"),
    ("what are the coordinates of 10 Downing Street", "util_geocode"),
]


def main():
    names = [t["name"] for t in TOOLS]
    assert len(names) == len(set(names)), "duplicate tool names"
    assert len(TOOLS) == 300, "catalog has %d tools, want 300" % len(TOOLS)
    for t in TOOLS:
        n = t["name"]
        assert 1 <= len(n) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-") for c in n), n
    for q, expect in QUERIES + HELDOUT:
        assert expect in names, expect
    queries = [{"query": q, "expect": e, "set": "dev"} for q, e in QUERIES]
    queries += [{"query": q, "expect": e, "set": "heldout"} for q, e in HELDOUT]
    doc = {"tools": TOOLS, "queries": queries}
    json.dump(doc, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
